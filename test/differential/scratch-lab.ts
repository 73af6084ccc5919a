import { runTrafficLab } from './traffic-lab.js';
const dir = process.argv[2] ?? '/tmp/esd/lab';
const r = await runTrafficLab({ workDir: dir, log: (m) => console.log(new Date().toISOString(), m) });
console.log(JSON.stringify(r, null, 2));
