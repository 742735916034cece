import { useEffect, useState } from 'react';
import { startApp } from '../store/actions';
import { DataPanel } from './DataPanel';
import { DropZone, useWindowDrop } from './DropZone';
import { ErrorBanner } from './ErrorBanner';
import { Header } from './Header';
import { JobBar } from './JobBar';
import { LayerDetail } from './LayerDetail';
import { LayerTable } from './LayerTable';
import { ModelPanel } from './ModelPanel';
import { PlanPanel } from './PlanPanel';
import { RemovalPanel } from './RemovalPanel';
import { SweepPanel } from './SweepPanel';

export const DEFAULT_DEMO = 'digits-cnn';
let started = false;

export function App() {
  const [dragging, setDragging] = useState(false);
  useWindowDrop(setDragging);
  useEffect(() => {
    if (started) return;
    started = true;
    void startApp(DEFAULT_DEMO);
  }, []);
  return (
    <div className={dragging ? 'app dragging' : 'app'}>
      <Header />
      <ErrorBanner />
      <main className="layout">
        <aside className="side" aria-label="Model and data">
          <DropZone />
          <ModelPanel />
          <DataPanel />
        </aside>
        <section className="center" aria-label="Layers">
          <PlanPanel />
          <LayerTable />
          <LayerDetail />
          <SweepPanel />
          <RemovalPanel />
        </section>
      </main>
      <JobBar />
    </div>
  );
}
