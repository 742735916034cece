import { selectLayer } from '../store/actions';
import { useLopper, type LopperState } from '../store/state';
import { formatCount, formatPercent, formatShape } from './format';

const selectModel = (s: LopperState) => s.model;
const selectSelected = (s: LopperState) => s.selectedLayer;
const selectPlan = (s: LopperState) => s.plan.sparsity;

/** The planned sparsity of a row's units: the row itself when it is a unit (a GraphModel's weight names hold `/`), else a Keras layer's `<layer>/…` units. */
function plannedSparsity(plan: Record<string, number>, layer: string, units: readonly string[]): string {
  const own = units.includes(layer) ? Object.entries(plan).filter(([unit]) => unit === layer) : Object.entries(plan).filter(([unit]) => unit.startsWith(`${layer}/`));
  if (own.length === 0) return '';
  return own.map(([, s]) => formatPercent(s)).join(' / ');
}

export function LayerTable() {
  const model = useLopper(selectModel);
  const selected = useLopper(selectSelected);
  const plan = useLopper(selectPlan);
  if (!model) return null;
  const prunable = model.layers.filter((l) => l.prunable).length;
  return (
    <section className="panel layers" aria-labelledby="layers-title">
      <h2 id="layers-title">Layers</h2>
      <p className="totals" data-testid="layer-totals">
        {model.layers.length} layers · {prunable} prunable · {formatCount(model.totalParams)} parameters · {formatCount(model.totalFlops)} FLOPs per sample · sparsity{' '}
        {formatPercent(model.sparsity)}
      </p>
      <div className="table-scroll">
        <table data-testid="layer-table">
          <thead>
            <tr>
              <th scope="col">Layer</th>
              <th scope="col">Type</th>
              <th scope="col">Output shape</th>
              <th scope="col" className="num">
                Params
              </th>
              <th scope="col" className="num">
                FLOPs
              </th>
              <th scope="col">Prunable</th>
              <th scope="col" className="num">
                Sparsity
              </th>
              <th scope="col" className="num">
                Plan
              </th>
            </tr>
          </thead>
          <tbody>
            {model.layers.map((layer) => (
              <tr
                key={layer.name}
                data-testid="layer-row"
                data-layer={layer.name}
                aria-selected={selected === layer.name}
                className={selected === layer.name ? 'selected' : undefined}
                onClick={() => void selectLayer(layer.name)}
              >
                <th scope="row">
                  <button type="button" className="link" onClick={(e) => (e.stopPropagation(), void selectLayer(layer.name))} aria-pressed={selected === layer.name}>
                    {layer.name}
                  </button>
                </th>
                <td>{layer.type}</td>
                <td className="mono">{formatShape(layer.outputShape)}</td>
                <td className="num">{formatCount(layer.params)}</td>
                <td className="num">{formatCount(layer.flops)}</td>
                <td>{layer.prunable ? 'yes' : '—'}</td>
                <td className="num">{layer.prunable ? formatPercent(layer.sparsity) : ''}</td>
                <td className="num" data-testid="layer-plan">
                  {plannedSparsity(plan, layer.name, model.units)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
