import tseslint from 'typescript-eslint';
import regexp from 'eslint-plugin-regexp';
import { fileURLToPath } from 'node:url';
import cycles from './scripts/eslint-no-cycles.mjs';

/**
 * The floors of docs/architecture.md: a module imports only from its own floor or the floors
 * below it, and the two daemons and the client library never import each other. Each entry:
 * the folders of one floor (or one daemon) and the top-level folders they must not import.
 */
const ABOVE = {
  errors: ['sql', 'proto', 'common', 'coordinator', 'node-agent', 'client', 'cli', 'bench', 'test'],
  sql: ['proto', 'common', 'coordinator', 'node-agent', 'client', 'cli', 'bench', 'test'],
  proto: ['common', 'coordinator', 'node-agent', 'client', 'cli', 'bench', 'test'],
  common: ['coordinator', 'node-agent', 'client', 'cli', 'bench', 'test'],
  coordinator: ['node-agent', 'client', 'cli', 'bench', 'test'],
  'node-agent': ['coordinator', 'client', 'cli', 'bench', 'test'],
  client: ['coordinator', 'node-agent', 'cli', 'bench', 'test'],
  cli: ['test'],
  bench: ['test'],
};
const floors = Object.entries(ABOVE).map(([folder, forbidden]) => ({
  files: [`${folder}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            regex: `^(\\.\\./)+(${forbidden.join('|')})/`,
            message: `${folder}/ may not import this folder: it is on a higher floor, or the other daemon (docs/architecture.md §Floors)`,
          },
        ],
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'proto/generated/**', 'scripts/**', 'eslint.config.mjs', 'examples/**/*.mjs'] },
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: fileURLToPath(new URL('.', import.meta.url)) },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  ...floors,
  {
    // no import cycles among quell's own modules (tests may import anything)
    ignores: ['test/**'],
    plugins: { quell: cycles },
    rules: { 'quell/no-import-cycles': 'error' },
  },
  {
    // no regular expression may backtrack super-linearly: many are applied to what clients send
    // (tests and the bench take no untrusted input)
    ignores: ['test/**', 'bench/**'],
    plugins: { regexp },
    rules: {
      'regexp/no-super-linear-backtracking': 'error',
      'regexp/no-super-linear-move': 'error',
    },
  },
);
