export { samples } from './samples.js';
export { dataArbitraries, anyEvent } from './arbitraries.js';
export { eventsFixture, testNamespace, type EventsFixture } from './fixture.js';
export { installTestTracing } from './tracing.js';
export { hostileMessages, hostileValidEvents, hostileString, type RawMessage } from './hostile.js';
export { collect, deadLetters } from './streams.js';
