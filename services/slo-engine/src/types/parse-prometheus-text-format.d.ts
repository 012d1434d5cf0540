declare module 'parse-prometheus-text-format' {
  /** Metric families of a Prometheus text exposition; lines it cannot read are left out. */
  export default function parsePrometheusTextFormat(text: string): unknown[];
}
