// Entry of the single-executable build: under `useSnapshot` the bundle runs at build time and
// `start` is what the snapshot runs on each start; as a plain script it just starts.
import v8 from 'node:v8';
import { start } from './entry.js';
import { warmUp } from './warm-up.js';

if (v8.startupSnapshot?.isBuildingSnapshot()) {
  warmUp();
  v8.startupSnapshot.setDeserializeMainFunction(start);
} else start();
