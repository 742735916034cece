import { useEffect, useState } from 'react';
import { startApp } from '../store/actions';
import { useView, type ViewState } from '../store/view';
import { DataPanel } from './DataPanel';
import { DropZone, useWindowDrop } from './DropZone';
import { ErrorBanner } from './ErrorBanner';
import { ExportPanel } from './ExportPanel';
import { Header } from './Header';
import { JobBar } from './JobBar';
import { LayerDetail } from './LayerDetail';
import { LayerTable } from './LayerTable';
import { ModelPanel } from './ModelPanel';
import { PlanPanel } from './PlanPanel';
import { PlanSummary } from './PlanSummary';
import { RemovalPanel } from './RemovalPanel';
import { StructureView } from './StructureView';
import { SweepPanel } from './SweepPanel';
import { UnitToolbar } from './UnitToolbar';
import { ViewPanel, ViewTabs } from './ViewTabs';

export const DEFAULT_DEMO = 'digits-cnn';
let started = false;

const selectListsUnits = (s: ViewState) => s.view === 'layers' || s.view === 'structure' || s.view === 'sensitivity' || s.view === 'plan';

export function App() {
  const [dragging, setDragging] = useState(false);
  const listsUnits = useView(selectListsUnits);
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
        <div className="workspace">
          <PlanSummary />
          <ViewTabs />
          {listsUnits && <UnitToolbar />}
          <ViewPanel view="layers">
            <div className="layers-view">
              <LayerTable />
              <LayerDetail />
            </div>
          </ViewPanel>
          <ViewPanel view="structure">
            <StructureView />
          </ViewPanel>
          <ViewPanel view="sensitivity">
            <SweepPanel />
          </ViewPanel>
          <ViewPanel view="removal">
            <RemovalPanel />
          </ViewPanel>
          <ViewPanel view="plan">
            <PlanPanel />
          </ViewPanel>
          <ViewPanel view="export">
            <ExportPanel />
          </ViewPanel>
        </div>
      </main>
      <JobBar />
    </div>
  );
}
