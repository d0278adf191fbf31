import dagre from "@dagrejs/dagre";
import { useMemo } from "preact/hooks";
import { bpLevel, fmtNum, fmtWatermark } from "./util";

const W = 230;
const H = 96;

type Layout = {
  nodes: Record<string, { x: number; y: number }>;
  edges: { from: string; to: string; points: { x: number; y: number }[]; label: string }[];
  width: number;
  height: number;
};

/** Lay out the plan once (dagre, left to right); refreshes only relabel. */
function layout(plan: any): Layout {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 24, ranksep: 60, marginx: 10, marginy: 10 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of plan.nodes || []) g.setNode(n.id, { width: W, height: H });
  for (const n of plan.nodes || [])
    for (const i of n.inputs || []) g.setEdge(i.id, n.id, { label: i.ship_strategy });
  dagre.layout(g);
  const nodes: Layout["nodes"] = {};
  for (const id of g.nodes()) {
    const n = g.node(id);
    nodes[id] = { x: n.x - W / 2, y: n.y - H / 2 };
  }
  const edges = g.edges().map((e: any) => ({
    from: e.v,
    to: e.w,
    points: g.edge(e).points,
    label: g.edge(e).label || "",
  }));
  const gr = g.graph();
  return { nodes, edges, width: (gr.width || W) + 20, height: (gr.height || H) + 20 };
}

function clip(s: string, n: number) {
  return s.length > n ? s.slice(0, n - 1) + "…" : s;
}

/** The job graph: one box per vertex, coloured by its back-pressure. */
export function Dag({ job, selected, onSelect }: { job: any; selected?: string; onSelect: (vid: string) => void }) {
  const plan = job.plan || { nodes: [] };
  const key = job.jid + ":" + (plan.nodes || []).map((n: any) => n.id).join(",");
  const lay = useMemo(() => layout(plan), [key]);
  const byId: Record<string, any> = {};
  for (const v of job.vertices || []) byId[v.id] = v;
  return (
    <div class="dag-wrap">
      <svg class="dag" width={lay.width} height={lay.height} viewBox={`0 0 ${lay.width} ${lay.height}`}>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto">
            <path d="M0,0 L10,5 L0,10 z" fill="#888" />
          </marker>
        </defs>
        {lay.edges.map((e) => {
          const d = e.points.map((p, i) => `${i ? "L" : "M"}${p.x},${p.y}`).join(" ");
          const mid = e.points[Math.floor(e.points.length / 2)];
          return (
            <g class="edge">
              <path d={d} marker-end="url(#arrow)" />
              <text x={mid.x} y={mid.y - 4} text-anchor="middle">
                {e.label}
              </text>
            </g>
          );
        })}
        {Object.entries(lay.nodes).map(([id, p]) => {
          const v = byId[id] || {};
          const bp = v.backPressuredTimeMsPerSecond ?? 0;
          const lvl = bpLevel(bp);
          return (
            <g
              class={`vertex bp-${lvl}${selected === id ? " selected" : ""}`}
              transform={`translate(${p.x},${p.y})`}
              onClick={() => onSelect(id)}
              data-vid={id}
            >
              <title>{v.name}</title>
              <rect width={W} height={H} rx="6" />
              <text x="10" y="18" class="vname">
                {clip(v.name || id, 34)}
              </text>
              <text x="10" y="36">
                Parallelism: {v.parallelism} · {v.status}
              </text>
              <text x="10" y="52" class="rates">
                in {fmtNum(v.numRecordsInPerSecond, 1)}/s · out {fmtNum(v.numRecordsOutPerSecond, 1)}/s
              </text>
              <text x="10" y="68">
                Busy {((v.busyTimeMsPerSecond ?? 0) / 10).toFixed(0)}% · Back-pressured {(bp / 10).toFixed(0)}% ({lvl})
              </text>
              <text x="10" y="84" class="wm">
                Low watermark: {fmtWatermark(v.currentInputWatermark)}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}
