/**
 * The host's network interfaces by index, for an `any` capture: the Linux cooked v2 header of every
 * packet carries the interface index, and this names it and says whether it is monitored.
 *
 * Names come from /sys/class/net/NAME/ifindex (the network namespace of the agent). An index not
 * seen before triggers a re-read (at most once a second), so an interface that appears later (a VPN
 * coming up) is named and, when it matches the configured patterns, monitored without a restart.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { LinkInterfaces } from '../flow/index.js';

const SYS_CLASS_NET = '/sys/class/net';
const REREAD_INTERVAL_MS = 1000;

export class HostInterfaces implements LinkInterfaces {
  version = 0;
  private names = new Map<number, string>();
  private lastReadMs = -Infinity;
  private patterns: RegExp[] = [];

  /**
   * @param patterns interface names to monitor, `*` matching any run of characters (e.g. `eth0`, `tun*`);
   *   empty: every interface
   */
  constructor(
    patterns: readonly string[],
    private readonly sysClassNet = SYS_CLASS_NET,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.setPatterns(patterns);
    this.read();
  }

  /** Changes which interfaces are monitored (a reloaded configuration). */
  setPatterns(patterns: readonly string[]): void {
    this.patterns = patterns.map(globToRegExp);
    this.version++;
  }

  name(ifindex: number): string | null {
    if (!this.names.has(ifindex)) this.rereadIfDue();
    return this.names.get(ifindex) ?? null;
  }

  monitored(ifindex: number): boolean {
    if (this.patterns.length === 0) return true;
    const name = this.name(ifindex);
    return name !== null && this.patterns.some((p) => p.test(name));
  }

  /** Current interfaces, by index. */
  list(): Map<number, string> {
    return new Map(this.names);
  }

  private rereadIfDue(): void {
    if (this.nowMs() - this.lastReadMs >= REREAD_INTERVAL_MS) this.read();
  }

  private read(): void {
    this.lastReadMs = this.nowMs();
    const names = new Map<number, string>();
    let entries: string[] = [];
    try {
      entries = readdirSync(this.sysClassNet);
    } catch {
      // No sysfs (a container without /sys): interfaces stay unnamed, and only an empty pattern list monitors them.
    }
    for (const name of entries) {
      try {
        const ifindex = Number(readFileSync(path.join(this.sysClassNet, name, 'ifindex'), 'utf8').trim());
        if (Number.isInteger(ifindex)) names.set(ifindex, name);
      } catch {
        // The interface went away between listing and reading.
      }
    }
    if (!sameEntries(names, this.names)) {
      this.names = names;
      this.version++;
    }
  }
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

function sameEntries(a: Map<number, string>, b: Map<number, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}
