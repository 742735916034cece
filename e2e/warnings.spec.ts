import { expect, test } from '@playwright/test';
import { DEMO, dropFiles, openWorkbench, readFixture, waitIdle } from './helpers';

test('a model with NaN weights opens with a warning beside it, in the page hooks too', async ({ page }) => {
  await openWorkbench(page);
  const files = readFixture(DEMO).filter((f) => !/(eval|reference)\.json$/.test(f.name));
  const shard = files.find((f) => f.name === 'group1-shard1of2.bin');
  if (shard === undefined) throw new Error('the demo has no first shard');
  const bytes = Buffer.from(shard.base64, 'base64');
  bytes.writeFloatLE(NaN, 0);
  shard.base64 = bytes.toString('base64');
  await dropFiles(
    page,
    files.map((f) => ({ ...f, name: f.name })),
  );
  const state = await waitIdle(page, (s) => (s.warnings?.length ?? 0) > 0);
  expect(state.error).toBeNull();
  expect(state.warnings).toEqual([expect.stringMatching(/^weight \S+ holds 1 NaN values/)]);
  await expect(page.getByTestId('model-warnings')).toContainText('holds 1 NaN values');
});
