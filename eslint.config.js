// ESLint flat config. Besides typescript-eslint's recommended rules it encodes the architecture of
// DESIGN §2 and STYLE.md: tfjs stays in the worker, charts import nothing from the app, core runs
// without DOM or worker globals, and no markup is built from strings.
import { dirname, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import prettier from 'eslint-config-prettier';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const root = dirname(fileURLToPath(import.meta.url));

/**
 * Modules outside src/ui, src/store and src/charts whose values the main thread may import: each is
 * free of tfjs and, being checked by the same rule, imports values only from this list. Type-only
 * imports are erased and always allowed. To offer a new option list on the page, put it in
 * src/core/options.ts rather than allowing the module that implements it.
 */
const MAIN_THREAD_MODULES = [
  'src/core/options', // the option lists the page offers
  'src/core/metrics/accuracy', // per-class accuracy from counts (no tfjs)
  'src/core/metrics/rows', // row helpers of the accuracy counts
  'src/core/criteria/types', // criterion and granularity names, criterion types
  'src/core/plan', // PruningPlan as data, densePlan, allocation names
  'src/core/pipeline/capabilities', // what each model kind offers, and why a choice is unavailable
  'src/core/removal/candidate-set', // which removal candidates a search considers
  'src/io/browser-files', // File and drag-and-drop glue
  'src/io/ecosystem/notes', // whether a granularity or removal runs faster on TF.js, ONNX Runtime, vLLM
  'src/worker/protocol', // the typed messages, CancelledError
  'src/worker/client', // WorkerClient: cancel, restart after a crash
  'src/worker/demo', // the demo model index
];
const MAIN_THREAD_DIRS = ['src/ui/', 'src/store/', 'src/charts/'];

/** Value imports, re-exports and dynamic imports with a string source; type-only ones are skipped. */
function valueSources(node) {
  const typeOnly = (specifiers, kind) => specifiers.length > 0 && specifiers.every((s) => s[kind] === 'type');
  switch (node.type) {
    case 'ImportDeclaration':
      return node.importKind === 'type' || typeOnly(node.specifiers, 'importKind') ? undefined : node.source;
    case 'ExportNamedDeclaration':
      return node.source === null || node.exportKind === 'type' || typeOnly(node.specifiers, 'exportKind') ? undefined : node.source;
    case 'ExportAllDeclaration':
      return node.exportKind === 'type' ? undefined : node.source;
    case 'ImportExpression':
      return node.source.type === 'Literal' ? node.source : undefined;
    default:
      return undefined;
  }
}

/** The main thread imports no tfjs, directly or through a module of the app (DESIGN §2). */
const mainThreadImports = {
  meta: {
    type: 'problem',
    docs: { description: 'Main-thread code imports values only from tfjs-free modules' },
    messages: {
      tfjs: '{{file}} runs on the main thread and imports {{source}}; tfjs belongs in the worker (DESIGN §2).',
      module:
        '{{file}} runs on the main thread and imports values from {{target}}, which is not known to be tfjs-free. Use `import type`, move the value into a tfjs-free module such as src/core/options.ts, or, if {{target}} has no tfjs, add it to MAIN_THREAD_MODULES in eslint.config.js.',
    },
    schema: [],
  },
  create(context) {
    const file = relative(root, context.filename).split(sep).join('/');
    function check(node) {
      const source = valueSources(node);
      if (source === undefined || typeof source.value !== 'string') return;
      const spec = source.value;
      if (spec.startsWith('@tensorflow/')) {
        context.report({ node: source, messageId: 'tfjs', data: { file, source: spec } });
        return;
      }
      if (!spec.startsWith('.')) return;
      const target = posix.normalize(posix.join(posix.dirname(file), spec)).replace(/\.(tsx?|m?js)$/, '');
      if (!target.startsWith('src/') || MAIN_THREAD_DIRS.some((dir) => target.startsWith(dir)) || MAIN_THREAD_MODULES.includes(target)) return;
      if (/\.(css|svg|png|json)$/.test(target)) return;
      context.report({ node: source, messageId: 'module', data: { file, target } });
    }
    return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check, ImportExpression: check };
  },
};

const lopper = { rules: { 'main-thread-imports': mainThreadImports } };

/** Markup never comes from strings: React and d3 build the elements (no innerHTML, no d3 `.html()`). */
const noMarkupStrings = [
  {
    selector: "JSXAttribute[name.name='dangerouslySetInnerHTML']",
    message: 'Build elements with JSX instead of dangerouslySetInnerHTML.',
  },
  {
    selector: "CallExpression[callee.type='MemberExpression'][callee.property.name='html']",
    message: "Build elements with d3's append/text instead of .html().",
  },
];

export default defineConfig([
  globalIgnores(['dist/', 'node_modules/', 'tmp/', 'public/', 'e2e/fixtures/', 'docs/', 'coverage/', 'test-results/', 'playwright-report/']),
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: 'module' },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      // `const { cancelled: _cancelled, ...rest } = report` is how the code drops a key from a copy.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true, argsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', ...noMarkupStrings],
      'no-restricted-properties': [
        'error',
        { property: 'innerHTML', message: 'Build elements with the DOM API, JSX or d3 instead of innerHTML.' },
        { property: 'outerHTML', message: 'Build elements with the DOM API, JSX or d3 instead of outerHTML.' },
        { property: 'insertAdjacentHTML', message: 'Build elements with the DOM API, JSX or d3 instead of insertAdjacentHTML.' },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: globals.node },
  },
  {
    files: ['src/**/*.tsx', 'src/ui/**/*.ts'],
    plugins: { 'react-hooks': reactHooks },
    rules: { 'react-hooks/rules-of-hooks': 'error', 'react-hooks/exhaustive-deps': 'error' },
  },
  {
    name: 'lopper/main-thread',
    files: ['src/main.tsx', 'src/ui/**', 'src/store/**', 'src/charts/**', ...MAIN_THREAD_MODULES.map((m) => `${m}.ts`)],
    plugins: { lopper },
    rules: { 'lopper/main-thread-imports': 'error' },
  },
  {
    name: 'lopper/charts',
    files: ['src/charts/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!d3(-[a-z-]+)?$|\\./)',
              message: 'Charts import only d3 and each other; data and options come in as arguments, never from the store or React (STYLE.md 7).',
            },
          ],
        },
      ],
    },
  },
  {
    name: 'lopper/core',
    files: ['src/core/**'],
    rules: {
      'no-restricted-globals': [
        'error',
        ...['window', 'document', 'self', 'navigator', 'postMessage', 'importScripts', 'localStorage', 'indexedDB'].map((name) => ({
          name,
          message: `src/core runs unchanged in Node, the worker and the CLI: no ${name} (STYLE.md 1). Take what it provides as an argument.`,
        })),
      ],
    },
  },
  prettier,
]);
