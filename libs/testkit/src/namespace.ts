import { randomBytes } from 'node:crypto';

/** Stream and subject names of one test, so tests never see each other's messages. */
export function uniqueNamespace(label = 't'): {
  stream: string;
  subjectPrefix: string;
  deadLetterStream: string;
  deadLetterPrefix: string;
} {
  const id = `${label.replace(/[^a-zA-Z0-9]/g, '')}${randomBytes(4).toString('hex')}`;
  return {
    stream: `EVENTS_${id}`,
    subjectPrefix: `${id}.events`,
    deadLetterStream: `DEADLETTER_${id}`,
    deadLetterPrefix: `${id}.deadletter`,
  };
}
