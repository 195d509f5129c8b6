import { readdirSync, readFileSync } from 'node:fs';

/** utime + stime; BENCH_KERNEL=1 counts kernel time alone (file creation on ext4 shows there). */
const KERNEL_ONLY = Boolean(process.env.BENCH_KERNEL);

export interface CpuSample {
  /** The whole process, threads that have ended included. */
  process: number;
  /** By thread id: the engine renames its pool threads as they take up work, so a name is not a key. */
  threads: Map<string, { name: string; ticks: number }>;
}

function ticksOf(stat: string): { name: string; ticks: number } {
  const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { name, ticks: (KERNEL_ONLY ? 0 : Number(fields[11])) + Number(fields[12]) };
}

/**
 * CPU time of a process and of each of its threads on Linux (/proc), to see
 * where an ingest benchmark's CPU goes: Node's threads are all named "node"
 * and are told apart by id; chDB's carry the engine's names (ThreadPool:
 * queries and inserts, MergeMutate: background merges).
 */
export function threadTicks(pid: number | 'self' = 'self'): CpuSample {
  const threads = new Map<string, { name: string; ticks: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      threads.set(tid, ticksOf(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')));
    } catch {
      // The thread ended between listing and reading.
    }
  }
  return { process: ticksOf(readFileSync(`/proc/${pid}/stat`, 'utf8')).ticks, threads };
}

/**
 * µs of CPU per event between two samples: the process's total (threads that
 * ended in between included), engine threads by the name they have at the
 * end, Node's busiest threads apart, the rest (ended threads too) as "other".
 */
export function cpuPerEvent(before: CpuSample, after: CpuSample, events: number): string {
  const tickUs = 1_000_000 / 100; // USER_HZ is 100 on Linux
  const byName = new Map<string, number>();
  for (const [tid, { name, ticks }] of after.threads) {
    const spent = ticks - (before.threads.get(tid)?.ticks ?? 0);
    if (spent <= 0) continue;
    const key = name === 'node' ? `node#${tid}` : name;
    byName.set(key, (byName.get(key) ?? 0) + spent);
  }
  const sorted = [...byName].sort((a, b) => b[1] - a[1]);
  const total = after.process - before.process;
  const us = (t: number) => ((t * tickUs) / events).toFixed(1);
  const named = process.env.BENCH_BREAKDOWN === 'all' ? sorted : sorted.filter(([name], i) => !name.startsWith('node#') || i < 4).slice(0, 6);
  const rest = Math.max(0, total - named.reduce((n, [, t]) => n + t, 0));
  return `${us(total)} µs ${KERNEL_ONLY ? 'kernel ' : ''}CPU per event: ${named.map(([name, t]) => `${name} ${us(t)}`).join(', ')}, other threads ${us(rest)}`;
}

export interface MachineSample {
  busy: number;
  all: number;
  at: number;
}

/** The whole machine's CPU (every process: the Kafka broker too), from /proc/stat. */
export function machineTicks(): MachineSample {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const all = fields.reduce((a, b) => a + b, 0);
  // idle and iowait are the time no task ran.
  return { busy: all - fields[3] - fields[4], all, at: performance.now() };
}

/** µs of the machine's CPU per event, and how busy its cores were, between two samples. */
export function machinePerEvent(before: MachineSample, after: MachineSample, events: number): string {
  const tickUs = 1_000_000 / 100;
  const busy = after.busy - before.busy;
  const share = busy / Math.max(1, after.all - before.all);
  return `machine (every process) ${((busy * tickUs) / events).toFixed(1)} µs CPU per event, ${(share * 100).toFixed(0)}% of its cores busy`;
}
