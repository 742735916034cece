import { unzipSync } from 'fflate';
import { canSaveToFolder, exportPlan, setExportFloat16 } from '../store/plan-actions';
import { useLopper, type LopperState } from '../store/state';
import { downloadBlob } from './download';
import { formatNumber } from './format';

const selectExporting = (s: LopperState) => s.exporting;
const selectModel = (s: LopperState) => s.model;
const selectPlan = (s: LopperState) => s.plan;

async function saveIntoFolder(zip: Uint8Array): Promise<void> {
  type Writable = { write(data: Blob): Promise<void>; close(): Promise<void> };
  type Directory = { getFileHandle(name: string, options: { create: boolean }): Promise<{ createWritable(): Promise<Writable> }> };
  const picker = (window as unknown as { showDirectoryPicker: () => Promise<Directory> }).showDirectoryPicker;
  const directory = await picker();
  for (const [name, bytes] of Object.entries(unzipSync(zip))) {
    const handle = await directory.getFileHandle(name, { create: true });
    const writable = await handle.createWritable();
    await writable.write(new Blob([bytes as Uint8Array<ArrayBuffer>]));
    await writable.close();
  }
}

/** Download the pruned model in its input format with its recipe, checked by reopening it first. */
export function ExportPanel() {
  const exporting = useLopper(selectExporting);
  const model = useLopper(selectModel);
  const run = async (toFolder: boolean) => {
    const exported = await exportPlan();
    if (!exported) return;
    if (toFolder) await saveIntoFolder(exported.zip);
    else downloadBlob(exported.fileName, new Blob([exported.zip as Uint8Array<ArrayBuffer>], { type: 'application/zip' }));
  };
  const check = exporting.result?.check;
  const plan = useLopper(selectPlan);
  if (!model) return null;
  const format = model.format === 'hf-transformer' ? 'config.json + model.safetensors' : 'model.json + weight shards';
  return (
    <section className="panel export-view" aria-labelledby="export-title">
      <h2 id="export-title">Export</h2>
      <p className="hint">
        A .zip with {format} and recipe.json ({plan.criterion}, {plan.granularity}, {plan.allocation}, {plan.removed.length} removed). The worker opens the export again and checks
        that it reproduces the evaluation shown here before anything is saved.
      </p>
      <div className="export">
        <label className="field">
          <input type="checkbox" checked={exporting.float16} onChange={(e) => setExportFloat16(e.target.checked)} />
          <span>float16 weights</span>
        </label>
        <button type="button" className="button" data-testid="export-button" disabled={exporting.status === 'running' || !model} onClick={() => void run(false)}>
          Download .zip
        </button>
        {canSaveToFolder() && (
          <button type="button" className="button secondary" disabled={exporting.status === 'running' || !model} onClick={() => void run(true)}>
            Save into a folder…
          </button>
        )}
        {check && (
          <span className={check.ok ? 'hint' : 'field-error'} data-testid="export-check" data-ok={String(check.ok)}>
            Reloaded export: {check.metric} {formatNumber(check.reloaded)} vs {formatNumber(check.inApp)} in the app ({check.ok ? 'reproduced' : 'MISMATCH — not saved'})
          </span>
        )}
      </div>
      {exporting.result && (
        <p className="hint" data-testid="export-files">
          Files: {exporting.result.files.join(', ')}
        </p>
      )}
    </section>
  );
}
