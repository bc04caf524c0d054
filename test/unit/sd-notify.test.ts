// The daemon's side of systemd: notify messages, the watchdog interval from WATCHDOG_USEC/WATCHDOG_PID,
// and when log lines get journald priority prefixes. (Sending needs the compiled binary: see
// test/integration/watch.test.ts for the datagrams and test/integration/systemd-unit.test.ts for systemd.)
import test from 'ava';
import { NO_SERVICE_MANAGER, createNotifier, notifyMessage, watchdogInterval } from '../../src/adapters/sd-notify.js';
import { JOURNAL_PRIORITY, stderrIsJournal } from '../../src/adapters/logger.js';

test('notify message: KEY=value lines; a value never spans lines', (t) => {
  t.is(notifyMessage({ READY: '1', STATUS: 'driver 580.159.04, 1 GPU' }), 'READY=1\nSTATUS=driver 580.159.04, 1 GPU');
  t.is(notifyMessage({ STATUS: 'a\nREADY=1\r\nb' }), 'STATUS=a READY=1 b');
});

test('watchdog interval: half of WATCHDOG_USEC, only for the pid it names', (t) => {
  t.is(watchdogInterval({ WATCHDOG_USEC: '30000000' }, 42), 15_000);
  t.is(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42), 15_000);
  t.is(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '41' }, 42), null, 'a watchdog meant for another process');
  t.is(watchdogInterval({}, 42), null);
  t.is(watchdogInterval({ WATCHDOG_USEC: '0' }, 42), null);
  t.is(watchdogInterval({ WATCHDOG_USEC: 'soon' }, 42), null);
  t.is(watchdogInterval({ WATCHDOG_USEC: '1000' }, 42), 1);
});

test('without NOTIFY_SOCKET the notifier does nothing', async (t) => {
  t.is(await createNotifier({}, { warn: () => t.fail('no warning expected') }), NO_SERVICE_MANAGER);
});

test('journald prefixes: only when JOURNAL_STREAM names stderr itself', (t) => {
  t.true(stderrIsJournal('8:12345', { dev: 8, ino: 12345 }));
  t.false(stderrIsJournal('8:12345', { dev: 8, ino: 12346 }), 'inherited, but stderr is elsewhere now');
  t.false(stderrIsJournal(undefined, { dev: 8, ino: 12345 }));
  t.false(stderrIsJournal('garbage', { dev: 8, ino: 12345 }));
  t.false(stderrIsJournal('8:12345', null));
  t.deepEqual(JOURNAL_PRIORITY, { error: 3, warn: 4, info: 6, debug: 7 }, 'LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG');
});
