import { readFileSync } from 'node:fs';
import { expandMacros, interpolateVariables } from '../test/helpers/grafana.ts';
const d = JSON.parse(readFileSync(process.argv[2]!, 'utf8'));
const n = Number(process.argv[4] ?? 50), base = Number(process.argv[5] ?? 1600000000);
const ids = Array.from({ length: n }, (_, i) => String(base + i));
const now = Date.now();
const panel = d.panels.find((p: any) => p.title.includes(process.argv[3]!));
console.log(expandMacros(interpolateVariables(panel.targets[0].rawSql, d.templating.list, { sdkappid: { values: ids }, stage: { values: ['ready_to_send', 'post_send_delivered'] } }), { from: new Date(now - 30 * 86400000), to: new Date(now) }) + ';');
