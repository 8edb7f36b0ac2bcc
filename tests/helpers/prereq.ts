// Prerequisites of tests (packages, QEMU, tools, the corpus): missing ones skip with a reason,
// except under CI, where a missing prerequisite is a failure and never a skip.

/** false when `present`, else the skip reason `what`; under CI this throws instead. */
export function prerequisite(present: boolean, what: string): false | string {
  if (present) return false;
  if (process.env.CI) throw new Error(`${what} (CI requires it)`);
  return what;
}
