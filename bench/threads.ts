import { readdirSync, readFileSync } from 'node:fs';

/** utime + stime; BENCH_KERNEL=1 counts kernel time alone (file creation on ext4 shows there). */
const KERNEL_ONLY = Boolean(process.env.BENCH_KERNEL);

/**
 * CPU time per thread of a process on Linux (/proc), to see where an
 * ingest benchmark's CPU goes: Node's threads are all named "node" and are
 * told apart by id; chDB's carry the engine's names (ThreadPool: queries and
 * inserts, MergeMutate: background merges).
 */
export function threadTicks(pid: number | 'self' = 'self'): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(`${name}#${tid}`, (KERNEL_ONLY ? 0 : Number(fields[11])) + Number(fields[12]));
    } catch {
      // The thread ended between listing and reading.
    }
  }
  return out;
}

/** µs of CPU per event between two samples: engine threads by name, Node's busiest threads apart, the rest summed. */
export function cpuPerEvent(before: Map<string, number>, after: Map<string, number>, events: number): string {
  const tickUs = 1_000_000 / 100; // USER_HZ is 100 on Linux
  const byName = new Map<string, number>();
  for (const [key, ticks] of after) {
    const spent = ticks - (before.get(key) ?? 0);
    if (spent <= 0) continue;
    const name = key.startsWith('node#') ? key : key.split('#')[0];
    byName.set(name, (byName.get(name) ?? 0) + spent);
  }
  const sorted = [...byName].sort((a, b) => b[1] - a[1]);
  const total = sorted.reduce((n, [, t]) => n + t, 0);
  const us = (t: number) => ((t * tickUs) / events).toFixed(1);
  const named = sorted.filter(([name], i) => !name.startsWith('node#') || i < 4).slice(0, 6);
  const rest = total - named.reduce((n, [, t]) => n + t, 0);
  return `${us(total)} µs ${KERNEL_ONLY ? 'kernel ' : ''}CPU per event: ${named.map(([name, t]) => `${name} ${us(t)}`).join(', ')}, other threads ${us(rest)}`;
}
