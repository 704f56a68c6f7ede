import { runSoak } from './soak.ts';
const r = await runSoak({
  seed: 1,
  days: Number(process.env.DAYS ?? 2),
  serverUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
  faultRate: Number(process.env.RATE ?? 0),
  progress: (l) => console.error(new Date().toISOString(), l),
});
const { violations, ...rest } = r;
console.log(JSON.stringify(rest));
console.log(violations.slice(0, 5));
