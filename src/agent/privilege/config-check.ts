/**
 * The configuration check the privileged helper runs as root on SIGHUP (supervisor.ts): reads and
 * validates the configuration exactly as `endsight agent` did at start, and prints one JSON line,
 * {"config": …} or {"error": "…"}, for the unprivileged meter, which never reads root's files.
 *
 *   node config-check.js HEX   (HEX: {"file": path or null, "overrides": AgentOverrides} as hex-encoded JSON)
 */
import { loadAgentConfig, type AgentOverrides } from '../agent-config.js';

const { file, overrides } = JSON.parse(Buffer.from(process.argv[2] ?? '', 'hex').toString('utf8')) as { file: string | null; overrides: AgentOverrides };
let line: string;
try {
  line = JSON.stringify({ config: loadAgentConfig(file, overrides) });
} catch (error) {
  line = JSON.stringify({ error: (error as Error).message });
}
process.stdout.write(line + '\n');
