// chdb 3.4.0 declares optional native packages for macOS and Linux arm64 that
// the npm registry does not have. `npm install` leaves them out of
// package-lock.json, and `npm ci` then refuses the lock as out of sync. This
// puts them back as optional, platform-bound entries (never fetched on
// linux-x64). Run it after any `npm install`: node scripts/lock-optional.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const chdb = lock.packages['node_modules/chdb'];
const wanted = Object.entries(chdb?.optionalDependencies ?? {});
const platform = {
  'lib-darwin-arm64': { cpu: ['arm64'], os: ['darwin'] },
  'lib-darwin-x64': { cpu: ['x64'], os: ['darwin'] },
  'lib-linux-arm64-gnu': { cpu: ['arm64'], libc: ['glibc'], os: ['linux'] },
  'lib-linux-x64-gnu': { cpu: ['x64'], libc: ['glibc'], os: ['linux'] },
};
const packages = {};
let added = 0;
for (const [key, value] of Object.entries(lock.packages)) {
  if (key === 'node_modules/chdb') {
    for (const [name, version] of wanted) {
      const entry = `node_modules/${name}`;
      if (lock.packages[entry]) continue;
      const short = name.split('/')[1];
      packages[entry] = { version, ...platform[short], license: 'Apache-2.0', optional: true };
      added++;
    }
  }
  packages[key] = value;
}
lock.packages = packages;
writeFileSync(path, JSON.stringify(lock, null, 2) + '\n');
console.log(`package-lock.json: ${added} optional chdb platform entries added`);
