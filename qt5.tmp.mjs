import { DuckDBInstance } from '@duckdb/node-api';
import fs from 'node:fs';
const D='/var/tmp/endsight-bench/groupby-store-v2-f3-3f956509-10000000';
const inst = await DuckDBInstance.create(':memory:'); const c = await inst.connect();
const out = '/var/tmp/es-dict'; fs.rmSync(out,{recursive:true,force:true}); fs.mkdirSync(out);
const opts = process.argv[2];
let t=performance.now();
await c.run(`COPY (SELECT * FROM read_parquet('${D}/flows/day=*/*.parquet') ORDER BY proto, src_addr, dst_addr, start_time) TO '${out}/x.parquet' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 6, PARQUET_VERSION v2, ROW_GROUP_SIZE 1000000, BLOOM_FILTER_FALSE_POSITIVE_RATIO 1 ${opts})`);
console.log('write ms', (performance.now()-t).toFixed(0), 'bytes/rec', (fs.statSync(out+'/x.parquet').size/1e7).toFixed(2));
const r = await c.runAndReadAll(`SELECT path_in_schema, any_value(encodings), sum(total_compressed_size) FROM parquet_metadata('${out}/x.parquet') GROUP BY 1 ORDER BY 3 DESC LIMIT 8`);
for (const row of r.getRows()) console.log(row.map(String).join(' | '));
for (const q of ["SELECT date_trunc('hour', start_time) AS hour, sum(bytes) AS bytes FROM 'OUT' WHERE dst_addr LIKE '10.%' GROUP BY hour ORDER BY hour", "SELECT count(*) FROM 'OUT' WHERE dst_addr LIKE '10.%'"]) {
  const qq=q.replace('OUT', out+'/x.parquet'); const ts=[]; for (let i=0;i<6;i++){t=performance.now(); await c.run(qq); ts.push(performance.now()-t);} ts.sort((a,b)=>a-b); console.log(ts.slice(0,4).map(x=>x.toFixed(0)).join(' '), q.slice(0,50));
}
