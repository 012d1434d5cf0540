export { samples } from './samples.js';
export { dataArbitraries, anyEvent } from './arbitraries.js';
