/**
 * One store for every test that builds the flagship plan (the demo, its boot tests, netboot), so that
 * its kernel is built once per test run: the store is content-addressed and locked per key, so tests
 * running at once share the work instead of doing it twice.
 */
import { join } from "node:path";

const REPO = join(import.meta.dirname, "..", "..");

export function sharedStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.ROOTSTOCK_TEST_STORE ?? join(REPO, ".rootstock", "test-store");
}
