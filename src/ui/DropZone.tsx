import { useEffect, useRef, type ChangeEvent, type DragEvent } from 'react';
import { collectDroppedFiles, collectPickedFiles } from '../io/browser-files';
import { openDataset, openDrop, trackWork } from '../store/actions';
import { useLopper, type LopperState } from '../store/state';

function handleDrop(dataTransfer: DataTransfer): Promise<void> {
  const collected = collectDroppedFiles(dataTransfer);
  return trackWork(async () => openDrop(await collected));
}

/** Lets the whole window accept a drop, so a miss of the drop zone is not a navigation away. */
export function useWindowDrop(setDragging: (dragging: boolean) => void): void {
  useEffect(() => {
    let depth = 0;
    const over = (e: globalThis.DragEvent) => {
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
    };
    const enter = (e: globalThis.DragEvent) => {
      e.preventDefault();
      depth += 1;
      setDragging(true);
    };
    const leave = () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) setDragging(false);
    };
    const drop = (e: globalThis.DragEvent) => {
      e.preventDefault();
      depth = 0;
      setDragging(false);
      if (e.dataTransfer) void handleDrop(e.dataTransfer);
    };
    window.addEventListener('dragover', over);
    window.addEventListener('dragenter', enter);
    window.addEventListener('dragleave', leave);
    window.addEventListener('drop', drop);
    return () => {
      window.removeEventListener('dragover', over);
      window.removeEventListener('dragenter', enter);
      window.removeEventListener('dragleave', leave);
      window.removeEventListener('drop', drop);
    };
  }, [setDragging]);
}

function pickFrom(open: (files: ReturnType<typeof collectPickedFiles>) => Promise<void>) {
  return (e: ChangeEvent<HTMLInputElement>) => {
    const list = e.target.files;
    if (list && list.length > 0) {
      const files = collectPickedFiles(list);
      void trackWork(() => open(files));
    }
    e.target.value = '';
  };
}

const selectLanguage = (s: LopperState) => s.model?.format === 'hf-transformer';

export function DropZone() {
  const language = useLopper(selectLanguage);
  const folderInput = useRef<HTMLInputElement>(null);
  useEffect(() => {
    folderInput.current?.setAttribute('webkitdirectory', '');
  }, []);
  const onDrop = (e: DragEvent<HTMLElement>) => {
    e.preventDefault();
    e.stopPropagation();
    void handleDrop(e.dataTransfer);
  };
  return (
    <section className="panel drop-zone" data-testid="drop-zone" onDrop={onDrop} onDragOver={(e) => e.preventDefault()} aria-labelledby="drop-title">
      <h2 id="drop-title">Open a model</h2>
      <p className="hint">
        Drop a TF.js <code>model.json</code> with its weight shards, a Hugging Face folder (<code>config.json</code> + <code>*.safetensors</code>), a folder or a <code>.zip</code>{' '}
        — add a dataset <code>.json</code> (or a <code>.txt</code> for a language model) to evaluate it. Nothing leaves this browser.
      </p>
      <div className="buttons">
        <label className="button">
          Choose files…
          <input data-testid="file-input" type="file" multiple className="visually-hidden" onChange={pickFrom(openDrop)} />
        </label>
        <label className="button">
          Choose folder…
          <input ref={folderInput} data-testid="folder-input" type="file" multiple className="visually-hidden" onChange={pickFrom(openDrop)} />
        </label>
        <label className="button secondary">
          {language ? 'Evaluation text…' : 'Evaluation data…'}
          <input
            data-testid="dataset-input"
            type="file"
            accept={language ? '.txt,text/plain,.json,application/json' : '.json,application/json,.txt,text/plain'}
            className="visually-hidden"
            onChange={pickFrom(openDataset)}
          />
        </label>
      </div>
    </section>
  );
}
