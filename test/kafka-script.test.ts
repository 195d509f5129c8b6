import { spawnSync } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers.ts';

const SCRIPT = new URL('../scripts/kafka.sh', import.meta.url).pathname;

/** Runs `kafka.sh start` with only the named commands on PATH, on a data and libs folder of its own. */
function startWith(commands: string[]) {
  const dir = tempDir();
  try {
    const bin = join(dir.path, 'bin');
    spawnSync('mkdir', [bin]);
    for (const command of ['dirname', ...commands]) {
      const found = spawnSync('bash', ['-c', `command -v ${command}`], { encoding: 'utf8' }).stdout.trim();
      symlinkSync(found, join(bin, command));
    }
    return spawnSync('/bin/bash', [SCRIPT, 'start'], {
      encoding: 'utf8',
      env: { PATH: bin, KAFKA_PORT: '1', KAFKA_DATA_DIR: join(dir.path, 'data'), KAFKA_LIBS_DIR: join(dir.path, 'libs') },
    });
  } finally {
    dir.remove();
  }
}

describe('scripts/kafka.sh on a machine without what it needs', () => {
  it('says in one line that Java is missing and how to install it', () => {
    const run = startWith([]);
    expect(run.status).toBe(1);
    expect(run.stderr).toBe('kafka.sh: Java 17 or newer (to run the broker) is needed and `java` is not on PATH: install it, e.g. apt-get install openjdk-17-jre-headless\n');
  });

  it('says in one line that Maven is missing when the broker has not been fetched yet', () => {
    const run = startWith(['java']);
    expect(run.status).toBe(1);
    expect(run.stderr).toBe('kafka.sh: Maven (to fetch the broker from Maven Central, once) is needed and `mvn` is not on PATH: install it, e.g. apt-get install maven\n');
  });
});
