// The schema table of docs/inspect-schema.md, made from FLOW_SUMMARY_FIELDS so
// that the document cannot drift from the output (a unit test compares them).
import { FLOW_SUMMARY_FIELDS } from './summary.js';

export function schemaTable(): string {
  const rows = FLOW_SUMMARY_FIELDS.map((f) => `| \`${f.name}\` | ${f.type} | ${f.unit === '' ? '' : f.unit} | ${f.nullable ? 'yes' : 'no'} | ${f.description.replaceAll('|', '\\|')} |`);
  return ['| field | type | unit | null | meaning |', '|---|---|---|---|---|', ...rows].join('\n') + '\n';
}
