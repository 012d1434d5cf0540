import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.vigil/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: './tsconfig.check.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-floating-promises': 'error',
    },
  },
  {
    // Package boundaries: a lib is used through its entries (`@vigil/x`, its `./testing` and
    // `./internal` subpaths), never through another package's files; services export nothing.
    files: [
      'libs/*/src/**/*.ts',
      'services/*/src/**/*.ts',
      'services/*/bench/**/*.ts',
      'cli/src/**/*.ts',
      'test/**/*.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@vigil/*/src/*', '@vigil/*/dist/*', '**/libs/*/src/**', '**/libs/*/dist/**'],
              message: "Import the package's entry (@vigil/x, @vigil/x/testing or @vigil/x/internal), not its files.",
            },
            {
              group: [
                '**/services/*/src/**',
                '@vigil/validator',
                '@vigil/slo-engine',
                '@vigil/anomaly',
                '@vigil/chaos',
                '@vigil/outbox-relay',
                '@vigil/status',
              ],
              message: 'Services export nothing: run them as processes, or move what is shared into a lib.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.spec.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
    },
  },
  { files: ['eslint.config.js'], ...tseslint.configs.disableTypeChecked },
);
