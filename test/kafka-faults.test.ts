import { beforeAll, describe, expect, it } from 'vitest';
import { startService } from '../cli/service.ts';
import { openStore } from '../store/open.ts';
import { event, tempDir, testConfig, withInsertOutage } from './helpers.ts';
import { createTopics, groupCaughtUp, produce, spawnService, testProducer, unique, useBroker, waitFor, waitWhileProgressing, type Broker } from './kafka-helpers.ts';

const theBroker = useBroker();
let broker: Broker;
beforeAll(() => {
  broker = theBroker();
});

const TOTAL = 200_000;

/** A fresh set of topics holding `total` events for `model`, 6 partitions; event `${model}-${i}` is in partition i % 6. */
async function prefilled(model: string, total = TOTAL) {
  const topics = { events: unique('events'), labels: unique('labels'), dlq: unique('dlq') };
  await createTopics(broker.admin, [topics.events, topics.labels, topics.dlq], 6);
  const producer = testProducer(broker.kafka);
  await producer.connect();
  const now = Date.now();
  await produce(
    producer,
    topics.events,
    Array.from({ length: total }, (_, i) => JSON.stringify(event({ model, event_id: `${model}-${i}`, timestamp: now - 60_000 + (i % 50_000), features: { x: i % 101 } }))),
    6,
  );
  await producer.disconnect();
  return topics;
}

const kafkaEnv = (topics: { events: string; labels: string; dlq: string }, groupId: string, dataDir: string) => ({
  KAFKA_BROKERS: broker.brokers.join(','),
  KAFKA_EVENTS_TOPIC: topics.events,
  KAFKA_LABELS_TOPIC: topics.labels,
  KAFKA_DLQ_TOPIC: topics.dlq,
  KAFKA_GROUP_ID: groupId,
  KAFKA_SESSION_TIMEOUT: '6s',
  DATA_DIR: dataDir,
});

/** Messages a running service has read from Kafka (its events topic), stored or not. */
async function consumed(service: { url: string }): Promise<number> {
  const metrics = await (await fetch(`${service.url}/metrics`)).text();
  return Number(/driftwatch_kafka_messages_total\{topic="[^"]+"\} (\d+)/.exec(metrics)?.[1] ?? 0);
}

async function distinctIds(dataDirs: string[], model: string): Promise<{ ids: Set<string>; rows: number }> {
  const ids = new Set<string>();
  let rows = 0;
  for (const dir of dataDirs) {
    const sql = await openStore(testConfig({ DATA_DIR: dir }));
    try {
      const found = await sql.query<{ event_id: string }>('SELECT event_id FROM events FINAL WHERE model = {m:String}', { m: model });
      rows += found.length;
      for (const r of found) ids.add(r.event_id);
    } finally {
      await sql.close();
    }
  }
  return { ids, rows };
}

describe('Kafka ingest under faults', () => {
  it('loses and duplicates nothing when the consumer is SIGKILLed again and again', async () => {
    const topics = await prefilled('kill');
    const dir = tempDir();
    const groupId = unique('group');
    const seenAtKill: number[] = [];
    for (let kill = 0; kill < 6; kill++) {
      // Small fetches, one partition at a time, a flush about every fetch:
      // slow enough that kills land mid-stream, and many points between an
      // insert and its commit for them to land on.
      const service = await spawnService({
        ...kafkaEnv(topics, groupId, dir.path),
        KAFKA_MAX_BYTES_PER_PARTITION: String(64 * 1024),
        KAFKA_PARTITIONS_CONCURRENTLY: '1',
        KAFKA_FLUSH_ROWS: '300',
      });
      // Once it is consuming again, let it run a random while, then kill it without warning.
      const before = await service.events('kill');
      await waitFor(async () => (await service.events('kill')) > before, 120_000, 'consumption to resume').catch((err) => {
        service.child.kill('SIGKILL');
        throw new Error(`${err.message} (kill ${kill}, ${before} events stored)\n${service.output().slice(-3000)}`);
      });
      await new Promise((r) => setTimeout(r, Math.random() * 800));
      seenAtKill.push(await service.events('kill'));
      service.child.kill('SIGKILL');
      await service.exited;
    }
    expect(seenAtKill).toHaveLength(6);
    // Every kill landed mid-stream: progress before it, work left after it.
    for (let i = 1; i < seenAtKill.length; i++) expect(seenAtKill[i]).toBeGreaterThan(seenAtKill[i - 1]);
    expect(seenAtKill[5]).toBeLessThan(TOTAL);
    const final = await spawnService(kafkaEnv(topics, groupId, dir.path));
    try {
      await waitWhileProgressing(async () => (await final.events('kill')) >= TOTAL && (await groupCaughtUp(broker, groupId, topics.events)), () => final.events('kill'), 60_000, 'all events after the kills');
      expect(await final.events('kill')).toBe(TOTAL);
    } finally {
      final.child.kill('SIGTERM');
      expect(await final.exited).toBe(0); // SIGTERM: flush, commit, leave the group, exit 0
    }
    const { ids, rows } = await distinctIds([dir.path], 'kill');
    expect(ids.size).toBe(TOTAL);
    expect(rows).toBe(TOTAL);
    dir.remove();
  }, 900_000);

  it('resumes by itself after the broker was down for 20 s', async () => {
    const topics = await prefilled('broker');
    const dir = tempDir();
    const service = await startService(testConfig({ ...kafkaEnv(topics, unique('group'), dir.path), KAFKA_MAX_BYTES_PER_PARTITION: String(256 * 1024), KAFKA_PARTITIONS_CONCURRENTLY: '1' }), { logger: false });
    const count = async () => Number((await service.sql.query<{ n: number }>("SELECT count() AS n FROM events FINAL WHERE model = 'broker'"))[0].n);
    try {
      await waitFor(async () => (await count()) > 5_000, 60_000, 'consumption to start');
      await broker.stopBroker();
      const during = await count();
      expect(during).toBeLessThan(TOTAL); // really mid-stream
      await new Promise((r) => setTimeout(r, 20_000));
      await broker.startBroker();
      await waitWhileProgressing(async () => (await count()) >= TOTAL, count, 90_000, 'all events after the broker came back');
      expect(await count()).toBe(TOTAL);
      expect(service.kafka?.state()).toBe('running');
    } finally {
      await service.close();
      dir.remove();
    }
  }, 900_000);

  it('pauses while the store is away for 20 s, without crash-looping, then drains', async () => {
    const topics = await prefilled('outage');
    const dir = tempDir();
    let storeDown = false;
    const failing = withInsertOutage(() => storeDown);
    const service = await startService(
      testConfig({
        ...kafkaEnv(topics, unique('group'), dir.path),
        KAFKA_MAX_BYTES_PER_PARTITION: String(256 * 1024),
        KAFKA_PARTITIONS_CONCURRENTLY: '2',
        // The sink then holds at most 10,000 rows waiting, 5,000 in the insert being retried, and a batch per partition in hand.
        KAFKA_FLUSH_ROWS: '5000',
      }),
      { logger: false, wrapSql: failing },
    );
    const consumed = async () => (await service.metrics.kafkaMessages.get()).values.reduce((n, v) => n + v.value, 0);
    const count = async () => Number((await service.sql.query<{ n: number }>("SELECT count() AS n FROM events FINAL WHERE model = 'outage'"))[0].n);
    try {
      await waitFor(async () => (await count()) > 5_000, 60_000, 'consumption to start');
      storeDown = true;
      const heapBefore = process.memoryUsage().heapUsed;
      await new Promise((r) => setTimeout(r, 10_000));
      const readHalfway = await consumed();
      await new Promise((r) => setTimeout(r, 10_000));
      // Paused: nothing more read in the second half of the outage, and what was read beyond the stored rows is bounded.
      expect(await consumed()).toBe(readHalfway);
      const metrics = await (await fetch(`${service.url}/metrics`)).text();
      expect(metrics).toMatch(/driftwatch_kafka_partition_paused\{topic="[^"]+",partition="\d"\} 1/);
      expect(metrics).toMatch(/driftwatch_kafka_write_retries_total\{what="store"\} [1-9]/);
      expect(metrics).toMatch(/driftwatch_kafka_consumer_restarts_total 0/);
      expect(service.kafka?.state()).toBe('running');
      const stalled = await count();
      expect(readHalfway - stalled).toBeLessThan(20_000);
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(200 * 1024 * 1024);
      storeDown = false;
      await waitWhileProgressing(async () => (await count()) >= TOTAL, count, 90_000, 'draining after the outage');
      expect(stalled).toBeLessThan(TOTAL);
      expect(await count()).toBe(TOTAL);
    } finally {
      await service.close();
      dir.remove();
    }
  }, 900_000);

  it('on SIGTERM stores and commits the rows it holds, then leaves the group', async () => {
    const n = 5_000;
    const topics = await prefilled('term', n);
    const dir = tempDir();
    const groupId = unique('group');
    // Flushes that never come by themselves: every row stays in the sink until the stop.
    const service = await spawnService({ ...kafkaEnv(topics, groupId, dir.path), KAFKA_FLUSH_ROWS: '1000000', KAFKA_FLUSH_INTERVAL: '1h' });
    try {
      await waitFor(async () => (await consumed(service)) >= n, 60_000, 'every message consumed');
      expect(await service.events('term')).toBe(0);
      expect(await groupCaughtUp(broker, groupId, topics.events)).toBe(false);
    } finally {
      service.child.kill('SIGTERM');
    }
    // Exit 0 is the bound: a stop that outlasts 10 s exits 1 (cli/main.ts), however busy the machine.
    expect(await service.exited).toBe(0);
    expect(await groupCaughtUp(broker, groupId, topics.events)).toBe(true);
    const { ids, rows } = await distinctIds([dir.path], 'term');
    expect(ids.size).toBe(n);
    expect(rows).toBe(n);
    // It left the group: nobody is a member any more.
    const [group] = (await broker.admin.describeGroups([groupId])).groups;
    expect(group.members).toHaveLength(0);
    dir.remove();
  }, 120_000);

  it('drops the rows it holds for partitions taken away in a rebalance instead of storing them late', async () => {
    const n = 6_000;
    const topics = await prefilled('revoke', n);
    const dirs = [tempDir(), tempDir()];
    const groupId = unique('group');
    // Rows stay in the sink until the stop, so whatever a consumer stores is what it held then.
    const env = (i: number) => ({ ...kafkaEnv(topics, groupId, dirs[i].path), KAFKA_FLUSH_ROWS: '1000000', KAFKA_FLUSH_INTERVAL: '1h' });
    const a = await spawnService(env(0));
    let b: Awaited<ReturnType<typeof spawnService>> | undefined;
    try {
      await waitFor(async () => (await consumed(a)) >= n, 60_000, 'the first consumer to hold every partition\'s rows');
      b = await spawnService(env(1));
      // The rebalance takes half the partitions from the first; each then reads its own from the committed offsets (none yet).
      await waitFor(async () => (await consumed(b!)) > 0 && (await consumed(a)) > n, 60_000, 'the rebalance');
      const beforeLeave = await consumed(a);
      b.child.kill('SIGTERM');
      expect(await b.exited).toBe(0);
      // The first gets every partition back: it re-reads its own (uncommitted, just dropped again); the other's are committed to the end.
      await waitFor(async () => (await consumed(a)) > beforeLeave, 60_000, 'the first consumer to rejoin alone');
    } finally {
      a.child.kill('SIGTERM');
      b?.child.kill('SIGTERM');
    }
    expect(await a.exited).toBe(0);
    expect(await groupCaughtUp(broker, groupId, topics.events)).toBe(true);
    const partitionsOf = (ids: Set<string>) => [...new Set([...ids].map((id) => Number(id.split('-').pop()) % 6))].sort();
    const first = await distinctIds([dirs[0].path], 'revoke');
    const second = await distinctIds([dirs[1].path], 'revoke');
    // Each stored only the partitions it owned at the end, each event once, together all of them.
    expect(first.ids.size + second.ids.size).toBe(n);
    expect(new Set([...first.ids, ...second.ids]).size).toBe(n);
    expect(partitionsOf(first.ids).length).toBeLessThan(6);
    expect([...partitionsOf(first.ids), ...partitionsOf(second.ids)].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    for (const d of dirs) d.remove();
  }, 180_000);

  it('hands the partitions of a killed consumer to the other one in the group', async () => {
    const topics = await prefilled('pair');
    const dirs = [tempDir(), tempDir()];
    const groupId = unique('group');
    // Small fetches and flushes: slow enough that the first consumer has not finished before the second joins.
    const env = (i: number) => ({ ...kafkaEnv(topics, groupId, dirs[i].path), KAFKA_MAX_BYTES_PER_PARTITION: String(128 * 1024), KAFKA_PARTITIONS_CONCURRENTLY: '1', KAFKA_FLUSH_ROWS: '500' });
    const a = await spawnService(env(0));
    const b = await spawnService(env(1));
    try {
      await waitFor(async () => (await a.events('pair')) > 0 && (await b.events('pair')) > 0, 60_000, 'both consumers to get partitions').catch(async (err) => {
        throw new Error(`${err.message} (stored: ${await a.events('pair')} and ${await b.events('pair')})`);
      });
      const storedBeforeKill = (await a.events('pair')) + (await b.events('pair'));
      a.child.kill('SIGKILL');
      expect(storedBeforeKill).toBeLessThan(TOTAL); // killed mid-stream: work was left for the survivor
      await a.exited;
      await waitWhileProgressing(() => groupCaughtUp(broker, groupId, topics.events), () => b.events('pair'), 60_000, 'the survivor to finish every partition');
    } finally {
      a.child.kill('SIGKILL');
      b.child.kill('SIGTERM');
      await b.exited;
    }
    const { ids } = await distinctIds(dirs.map((d) => d.path), 'pair');
    expect(ids.size).toBe(TOTAL);
    for (const d of dirs) d.remove();
  }, 900_000);
});

