/**
 * Preloaded into a pushloss process (`NODE_OPTIONS=--import=…/signalWhileLoading.ts`): sends the
 * process a SIGTERM of its own as the configuration module starts loading, i.e. while pushloss is
 * still being loaded. Deterministic, where a signal sent from outside "early enough" is a race.
 */
import { registerHooks } from 'node:module';

let sent = false;
registerHooks({
  load(url, context, nextLoad) {
    if (!sent && url.endsWith('/src/config/config.ts')) {
      sent = true;
      process.kill(process.pid, 'SIGTERM');
    }
    return nextLoad(url, context);
  },
});
