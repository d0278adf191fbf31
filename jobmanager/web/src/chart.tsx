import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";

/** A time-series line chart (uPlot): x in seconds, one line per series. */
export function LineChart({
  data,
  series,
  height = 200,
}: {
  data: number[][];
  series: { label: string; stroke: string }[];
  height?: number;
}) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    const width = el.current!.clientWidth || 600;
    plot.current = new uPlot(
      {
        width,
        height,
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2 }))],
        axes: [{}, { size: 60 }],
        scales: { x: { time: true } },
        legend: { show: true },
      },
      data as uPlot.AlignedData,
      el.current!,
    );
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: el.current!.clientWidth, height }));
    ro.observe(el.current!);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);
  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  }, [data]);
  return <div ref={el} class="chart" />;
}
