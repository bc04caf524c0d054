import { fileURLToPath } from 'node:url';
import path from 'node:path';

// Tests run from dist/test/...; the repository root is three levels up from this compiled file.
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const FIXTURES = path.join(REPO_ROOT, 'test/fixtures');
export const SCHEMAS = path.join(REPO_ROOT, 'test/schemas');
