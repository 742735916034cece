#!/usr/bin/env node
// Installs what the end-to-end tests need and a fresh machine lacks: Debian's Chromium.
import { existsSync } from 'node:fs';
import { execSync } from 'node:child_process';

const CHROMIUM = '/usr/lib/chromium/chromium';

if (existsSync(CHROMIUM)) {
  console.log(`[pretest] Chromium found at ${CHROMIUM}`);
} else {
  console.log(`[pretest] ${CHROMIUM} is missing: installing Debian's chromium package with apt-get (needed by the Playwright tests)`);
  const sudo = process.getuid && process.getuid() !== 0 ? 'sudo ' : '';
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execSync(`${sudo}apt-get update`, { stdio: 'inherit', env });
  execSync(`${sudo}apt-get install -y --no-install-recommends chromium`, { stdio: 'inherit', env });
  if (!existsSync(CHROMIUM)) {
    console.error(`[pretest] apt-get finished but ${CHROMIUM} is still missing`);
    process.exit(1);
  }
}
