/**
 * The PyTorch CPU peer (bench/torch_peer.py) as a child process speaking JSON lines, and the Debian
 * packages it needs: python3-torch, and libopenblas0-pthread so that torch runs on OpenBLAS rather than
 * the reference BLAS (about 20× slower on transformer matmuls). Missing packages are installed with
 * apt-get, and the bench says so.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const PYTHON = '/usr/bin/python3';
const PACKAGES = ['python3-torch', 'python3-numpy', 'libopenblas0-pthread'];

function installed(pkg: string): boolean {
  const status = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return status.status === 0 && status.stdout.includes('install ok installed');
}

/** Installs what the peer lacks; returns a line for the report when it installed something. */
export function ensureTorch(log: (line: string) => void): string | undefined {
  const missing = PACKAGES.filter((pkg) => !installed(pkg));
  const importable = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' }).status === 0;
  if (missing.length === 0 && importable) return undefined;
  log(`bench: installing ${missing.join(', ') || PACKAGES.join(', ')} with apt-get (the PyTorch peer needs them)`);
  const run = (args: string[]): void => {
    const result = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (result.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed (exit ${result.status}); install ${PACKAGES.join(', ')} and run again`);
  };
  run(['update', '-q']);
  run(['install', '-y', '-q', ...PACKAGES]);
  return `installed ${missing.join(', ')} with apt-get`;
}

export interface PeerInfo {
  torch: string;
  threads: number;
  blas: string[];
}

export class TorchPeer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly replies: ((line: string) => void)[] = [];

  constructor(threads: number) {
    this.child = spawn(PYTHON, [join(import.meta.dirname, 'torch_peer.py'), String(threads)], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (chunk: Buffer) => process.stderr.write(`torch: ${chunk.toString()}`));
    createInterface({ input: this.child.stdout }).on('line', (line) => this.replies.shift()?.(line));
  }

  request<T>(message: Record<string, unknown>): Promise<T> {
    return new Promise((resolve, reject) => {
      this.replies.push((line) => {
        const reply = JSON.parse(line) as T & { error?: string };
        if (reply.error !== undefined) reject(new Error(`torch peer: ${reply.error}`));
        else resolve(reply);
      });
      this.child.stdin.write(`${JSON.stringify(message)}\n`);
    });
  }

  close(): void {
    this.child.stdin.end();
  }
}
