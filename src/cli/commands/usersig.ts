import { systemClock } from '../../clock.ts';
import { requireApps } from '../../config/config.ts';
import { UserSigSource } from '../../tencent/usersig.ts';
import { selectApps, UsageError, type Command } from '../command.ts';

/** Prints a fresh admin UserSig, for debugging calls by hand. It is a credential: handle with care. */
export const usersigCommand: Command = {
  name: 'usersig',
  summary: 'print an admin UserSig for one configured app (debugging)',
  usage: `pushloss usersig [--app <sdkappid>]

Prints a freshly generated UserSig for the app's administrator identifier, valid for 48 h.
It is a credential: do not paste it into tickets or chats.
  --app <sdkappid>   which app (default: the only configured one)`,
  options: { app: { type: 'string' } },
  // Printing the signature is this command's whole point; the scrub would print [redacted].
  printsCredential: true,
  async run({ config, out }, values) {
    const apps = requireApps(config);
    const selected = selectApps(apps, values.app);
    if (selected.length > 1)
      throw new UsageError(`--app: several apps are configured; pass one of ${apps.map((a) => a.sdkappid).join(', ')}`);
    out(new UserSigSource(selected[0]!, systemClock).current());
    return 0;
  },
};
