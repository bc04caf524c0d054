// ava-tap.mjs — loaded by scripts/test.sh with `node --import` before ava's CLI, to make two things
// in ava 7's TAP reporter countable:
// - a run that times out (no test finished within ava's `timeout` of inactivity) crashed the
//   reporter (its writeTimeout hands writeTest a plain Error where a serialized one is expected), so
//   the TAP stream ended without a plan and without naming the tests that were running: each is now
//   a "not ok" line plus a comment "# oci-gpu: timed out: <file> › <title>" (not those of a file that
//   already ended: ava still lists the tests a failed before hook kept from running);
// - a failed hook is a "not ok" line like a failed test: a comment "# oci-gpu: hook failed: <title>"
//   follows it, so test.sh can say which failures were hooks.
// Workers (ava forks them with this process's execArgv) have an IPC channel and are left alone.
if (typeof process.send !== 'function') {
  try {
    const { default: TapReporter } = await import(new URL('../node_modules/ava/lib/reporters/tap.js', import.meta.url).href);
    const proto = TapReporter.prototype;
    if (typeof proto.writeTimeout !== 'function' || typeof proto.consumeStateChange !== 'function' || typeof proto.writeTest !== 'function') {
      throw new Error('its TapReporter has changed');
    }
    proto.writeTimeout = function writeTimeout(evt) {
      for (const [testFile, titles] of evt.pendingTests) {
        // A file whose worker finished (its before hook failed) still lists its tests: they are the "remaining" ones.
        if (this.ociGpuFinished?.has(testFile)) continue;
        for (const title of titles) {
          const err = { type: 'unknown', formattedError: `timed out: no test completed within the last ${evt.period} ms` };
          this.writeTest({ testFile, title, err }, { passed: false, todo: false, skip: false });
          this.reportStream.write(`# oci-gpu: timed out: ${this.prefixTitle(testFile, title)}\n`);
        }
      }
    };
    const consume = proto.consumeStateChange;
    proto.consumeStateChange = function consumeStateChange(evt) {
      consume.call(this, evt);
      if (evt.type === 'worker-finished' || evt.type === 'worker-failed') (this.ociGpuFinished ??= new Set()).add(evt.testFile);
      if (evt.type === 'hook-failed') this.reportStream.write(`# oci-gpu: hook failed: ${this.prefixTitle(evt.testFile, evt.title)}\n`);
    };
  } catch (error) {
    process.stderr.write(`ava-tap: cannot adjust ava's TAP reporter (${error.message}): a timed-out run may end without naming its tests\n`);
  }
}
