// Reads an AsyncAPI document on stdin with the official parser; prints its diagnostics as
// JSON and exits 1 when any is an error (severity 0).
import { Parser } from "@asyncapi/parser";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const parser = new Parser();
const { document, diagnostics } = await parser.parse(Buffer.concat(chunks).toString("utf8"));
const found = diagnostics.map((d) => ({
  severity: d.severity,
  code: d.code,
  message: d.message,
  path: d.path.join("/"),
}));
const summary = document
  ? {
      version: document.version(),
      channels: document.channels().all().map((c) => c.id()),
      messages: document.components().messages().all().map((m) => m.id()),
    }
  : null;
process.stdout.write(JSON.stringify({ diagnostics: found, document: summary }));
process.exit(document && !found.some((d) => d.severity === 0) ? 0 : 1);
