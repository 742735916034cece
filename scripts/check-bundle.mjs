// Checks that the page's main-thread code carries no tfjs (DESIGN §2: tensors live in the worker).
// After `vite build`, starts from the module scripts and module preloads in dist/index.html, follows
// every import between chunks in dist/assets, and fails naming each chunk that contains a tfjs marker.
// The worker chunk is reached only through `new URL(...)`, never an import, so it is not followed.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const dist = resolve(process.argv[2] ?? 'dist');

/**
 * Strings every tfjs build contains and a clean main chunk does not: package paths (module comments
 * and error texts of an unminified build), the engine's global slot and its flags parameter (kept by
 * a minifier too, being a property name and a string).
 */
const MARKERS = ['@tensorflow/tfjs', '_tfengine', 'tfjsflags'];

function fail(message) {
  console.error(`check-bundle: ${message}`);
  process.exit(1);
}

/** Paths in dist of the module scripts and module preloads that index.html loads. */
function entries(html) {
  const found = [];
  for (const tag of html.match(/<(script|link)\b[^>]*>/g) ?? []) {
    const isModuleScript = tag.startsWith('<script') && /\btype=["']module["']/.test(tag);
    const isPreload = tag.startsWith('<link') && /\brel=["']modulepreload["']/.test(tag);
    const url = /\b(?:src|href)=["']([^"']+)["']/.exec(tag)?.[1];
    if ((isModuleScript || isPreload) && url !== undefined && !/^[a-z]+:/i.test(url)) found.push(join(dist, url.replace(/^\//, '')));
  }
  return found;
}

/** Specifiers of the static imports, re-exports and dynamic imports in a chunk. */
function imports(code) {
  const specifiers = [];
  const patterns = [/(?:^|[;}\s])(?:import|export)\s*(?:[\w$*{}\s,]*?\s*from\s*)?["']([^"']+)["']/g, /\bimport\(\s*["']([^"']+)["']\s*\)/g];
  for (const pattern of patterns) for (const match of code.matchAll(pattern)) specifiers.push(match[1]);
  return specifiers;
}

function resolveImport(fromFile, specifier) {
  if (specifier.startsWith('/')) return join(dist, specifier.slice(1));
  if (specifier.startsWith('./') || specifier.startsWith('../')) return resolve(dirname(fromFile), specifier);
  return undefined;
}

const indexPath = join(dist, 'index.html');
if (!existsSync(indexPath)) fail(`${relative('.', indexPath)} not found; run vite build first`);
const queue = entries(readFileSync(indexPath, 'utf8'));
if (queue.length === 0) fail(`${relative('.', indexPath)} loads no module script`);

const seen = new Set();
const problems = [];
while (queue.length > 0) {
  const file = queue.shift();
  if (seen.has(file)) continue;
  seen.add(file);
  if (!existsSync(file) || !statSync(file).isFile()) fail(`${relative('.', file)} is imported but not in the build`);
  const code = readFileSync(file, 'utf8');
  const size = `${(statSync(file).size / 1000).toFixed(2)} kB`;
  const found = MARKERS.filter((m) => code.includes(m));
  if (found.length > 0) problems.push(`${relative(dist, file)} (${size}) contains ${found.map((m) => `"${m}"`).join(', ')}`);
  else console.log(`check-bundle: ${relative(dist, file)} (${size}) has no tfjs`);
  for (const specifier of imports(code)) {
    const target = resolveImport(file, specifier);
    if (target !== undefined && /\.m?js$/.test(target)) queue.push(target);
  }
}

if (problems.length > 0) {
  fail(
    `tfjs reached the main thread; it belongs in the worker only.\n  ${problems.join('\n  ')}\nFind the value import with: npx eslint src/ui src/store (lopper/main-thread-imports)`,
  );
}
