//! The tantivy schema every partition uses, and the mapping between [`LogRecord`] and documents.
//!
//! This is the contract between the writer (ingest) and the query layer: field names and options live here
//! and nowhere else.

use crate::tokenizer::{register_tokenizers, MESSAGE_TOKENIZER};
use std::collections::HashMap;

use logmind_protocol::batch::{opt_field, write_fields, write_int, write_str};
use logmind_protocol::LogRecord;
use tantivy::columnar::{Column, StrColumn};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value, FAST,
    STORED,
};
use tantivy::{DocAddress, DocId, Index, Searcher, SegmentOrdinal, SegmentReader, TantivyDocument};

/// Keyword fields: raw-tokenised (exact match) and fast (aggregations without loading documents). The first
/// seven have few distinct values ([`COLUMN_FIELDS`]); the ids follow.
pub const KEYWORD_FIELDS: [&str; 10] = [
    "namespace",
    "app",
    "pod",
    "container",
    "node",
    "stream",
    "level",
    "request_id",
    "user_id",
    "trace_id",
];

/// Handles to every field of the log schema.
#[derive(Debug, Clone)]
pub struct LogSchema {
    /// The tantivy schema.
    pub schema: Schema,
    /// Event time, ns since the epoch (i64, fast; range queries run on the column, so no term index).
    pub ts: Field,
    /// `namespace` keyword.
    pub namespace: Field,
    /// `app` keyword.
    pub app: Field,
    /// `pod` keyword.
    pub pod: Field,
    /// `container` keyword.
    pub container: Field,
    /// `node` keyword.
    pub node: Field,
    /// `stream` keyword.
    pub stream: Field,
    /// `level` keyword.
    pub level: Field,
    /// `request_id` keyword.
    pub request_id: Field,
    /// `user_id` keyword.
    pub user_id: Field,
    /// `trace_id` keyword.
    pub trace_id: Field,
    /// Full-text message (identifier-preserving tokenizer); not stored (the source holds it).
    pub message: Field,
    /// Error-template id of the message as 16 hex digits (raw keyword, indexed + fast; read it with
    /// [`TemplateColumn`]). A dictionary column: the few distinct templates cost a few bits per document,
    /// where a u64 column of 64-bit hash ids costs 8 bytes.
    pub template: Field,
    /// Message length in bytes (u64, fast): volumes and `bytes_over_time` without loading documents.
    pub size: Field,
    /// The record as JSON without `ts` and the low-cardinality keyword fields ([`COLUMN_FIELDS`]), which
    /// [`RecordLoader`] reads back from their fast columns (stored, compressed doc store).
    pub source: Field,
}

impl LogSchema {
    /// Builds the schema.
    pub fn new() -> Self {
        let mut b = Schema::builder();
        // Range queries on a fast field run on the column (tantivy picks it), so `ts` needs no term index: a
        // term per distinct nanosecond cost ~8% of the index and ~12% of indexing time.
        let ts = b.add_i64_field("ts", NumericOptions::default() | FAST);
        let kw = || keyword_indexing_options().set_fast("raw");
        let namespace = b.add_text_field("namespace", kw());
        let app = b.add_text_field("app", kw());
        let pod = b.add_text_field("pod", kw());
        let container = b.add_text_field("container", kw());
        let node = b.add_text_field("node", kw());
        let stream = b.add_text_field("stream", kw());
        let level = b.add_text_field("level", kw());
        let request_id = b.add_text_field("request_id", kw());
        let user_id = b.add_text_field("user_id", kw());
        let trace_id = b.add_text_field("trace_id", kw());
        let message = b.add_text_field(
            "message",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(MESSAGE_TOKENIZER)
                    // results are ordered by time, never scored: no fieldnorms
                    .set_fieldnorms(false)
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            ),
        );
        let template = b.add_text_field("template", kw());
        let size = b.add_u64_field("size", NumericOptions::default() | FAST);
        let source = b.add_bytes_field("source", STORED);
        LogSchema {
            schema: b.build(),
            ts,
            namespace,
            app,
            pod,
            container,
            node,
            stream,
            level,
            request_id,
            user_id,
            trace_id,
            message,
            template,
            size,
            source,
        }
    }

    /// The keyword field with this name (`namespace`, `app`, …), if it is one.
    pub fn keyword(&self, name: &str) -> Option<Field> {
        Some(match name {
            "namespace" => self.namespace,
            "app" => self.app,
            "pod" => self.pod,
            "container" => self.container,
            "node" => self.node,
            "stream" => self.stream,
            "level" => self.level,
            "request_id" => self.request_id,
            "user_id" => self.user_id,
            "trace_id" => self.trace_id,
            _ => return None,
        })
    }

    /// Builds the document for a record with its template id.
    pub fn to_document(&self, r: &LogRecord, template: u64) -> TantivyDocument {
        let mut doc = TantivyDocument::new();
        doc.add_i64(self.ts, r.ts);
        for (field, value) in [
            (self.namespace, &r.namespace),
            (self.app, &r.app),
            (self.pod, &r.pod),
            (self.container, &r.container),
            (self.node, &r.node),
            (self.stream, &r.stream),
            (self.level, &r.level),
            (self.request_id, &r.request_id),
            (self.user_id, &r.user_id),
            (self.trace_id, &r.trace_id),
        ] {
            if !value.is_empty() {
                doc.add_text(field, value);
            }
        }
        doc.add_text(self.message, &r.message);
        doc.add_text(self.template, template_hex(template));
        doc.add_u64(self.size, r.message.len() as u64);
        doc.add_bytes(self.source, &stored_json(r));
        doc
    }

    /// A reader of whole records from `searcher`'s documents.
    pub fn loader<'s>(&'s self, searcher: &'s Searcher) -> RecordLoader<'s> {
        RecordLoader {
            schema: self,
            searcher,
            segments: HashMap::new(),
        }
    }

    /// Settings of new partitions: zstd doc store with 64 KiB blocks (log records compress far better than with
    /// lz4's 16 KiB default; existing partitions keep the settings they were created with).
    pub fn index_settings() -> tantivy::IndexSettings {
        tantivy::IndexSettings {
            docstore_compression: tantivy::store::Compressor::Zstd(
                tantivy::store::ZstdCompressor {
                    compression_level: Some(3),
                },
            ),
            docstore_blocksize: 64 << 10,
            ..Default::default()
        }
    }

    /// Creates (or opens) an index directory with this schema and the tokenizers registered.
    pub fn open_or_create(&self, dir: &std::path::Path) -> tantivy::Result<Index> {
        std::fs::create_dir_all(dir)?;
        let mmap = tantivy::directory::MmapDirectory::open(dir)?;
        let index = Index::builder()
            .schema(self.schema.clone())
            .settings(Self::index_settings())
            .open_or_create(mmap)?;
        register_tokenizers(&index);
        Ok(index)
    }
}

/// Indexing of a keyword field: raw token, no positions, no fieldnorms (one token each, never scored). The
/// schema's keyword fields add `fast`.
pub fn keyword_indexing_options() -> TextOptions {
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_fieldnorms(false)
            .set_index_option(IndexRecordOption::Basic),
    )
}

/// A template id as the 16 hex digits the `template` field holds.
pub fn template_hex(id: u64) -> String {
    format!("{id:016x}")
}

/// The template ids of one segment's documents, read from the `template` dictionary column.
#[derive(Clone)]
pub struct TemplateColumn {
    ords: Column<u64>,
    ids: Vec<u64>,
}

impl TemplateColumn {
    /// Opens the column of a segment (`None` when the segment has no template column).
    pub fn open(reader: &SegmentReader) -> tantivy::Result<Option<TemplateColumn>> {
        let Some(col) = reader.fast_fields().str("template")? else {
            return Ok(None);
        };
        let mut ids = Vec::with_capacity(col.num_terms());
        let mut terms = col.dictionary().stream()?;
        while terms.advance() {
            let hex = std::str::from_utf8(terms.key()).unwrap_or("");
            ids.push(u64::from_str_radix(hex, 16).unwrap_or(0));
        }
        Ok(Some(TemplateColumn {
            ords: col.ords().clone(),
            ids,
        }))
    }

    /// The template id of a document.
    pub fn first(&self, doc: DocId) -> Option<u64> {
        let ord = self.ords.first(doc)?;
        self.ids.get(usize::try_from(ord).ok()?).copied()
    }
}

/// The keyword fields a stored record leaves out and [`RecordLoader`] reads from fast columns: few distinct
/// values, so their columns open cheaply (the ids stay in the stored JSON: their dictionaries are as large as
/// the segment, too slow to open for a trace that loads a few documents per segment).
pub const COLUMN_FIELDS: &[&str] = KEYWORD_FIELDS.split_at(7).0;

/// The stored JSON of a record: all but `ts` and [`COLUMN_FIELDS`], with [`LogRecord`]'s field names, so the bytes
/// deserialize as a `LogRecord` whose `ts` and keyword fields are then filled from the columns. Written with the
/// protocol's encoder, byte for byte what serde_json makes of the same values (the `Stored` struct of the
/// tests), at a fraction of the cost: the message is the bulk, and its escaping is scanned 16 bytes at a time.
pub fn stored_json(r: &LogRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(r.message.len() + 192);
    out.push(b'{');
    for (name, value) in [
        ("request_id", &r.request_id),
        ("user_id", &r.user_id),
        ("trace_id", &r.trace_id),
    ] {
        if !value.is_empty() {
            key(&mut out, name);
            write_str(&mut out, value);
        }
    }
    key(&mut out, "message");
    write_str(&mut out, &r.message);
    opt_field(&mut out, "container_id", &r.container_id);
    if r.restart != 0 {
        key(&mut out, "restart");
        write_int(&mut out, r.restart);
    }
    write_fields(&mut out, r.fields.iter().map(|(k, v)| (&**k, &**v)));
    key(&mut out, "source");
    out.extend_from_slice(b"{\"agent\":");
    write_str(&mut out, &r.source.agent);
    out.extend_from_slice(b",\"file\":");
    write_str(&mut out, &r.source.file);
    out.extend_from_slice(b",\"offset\":");
    write_int(&mut out, r.source.offset);
    out.extend_from_slice(b"}}");
    out
}

/// `"name":` after `{` or a previous value (the keys that can come first; the others use [`opt_field`]).
fn key(out: &mut Vec<u8>, name: &str) {
    if out.len() > 1 {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Reads whole records: each document's stored part plus `ts` and [`COLUMN_FIELDS`] from the fast columns,
/// which are opened once per segment.
pub struct RecordLoader<'s> {
    schema: &'s LogSchema,
    searcher: &'s Searcher,
    segments: HashMap<SegmentOrdinal, SegmentColumns>,
}

struct SegmentColumns {
    ts: Option<Column<i64>>,
    keywords: Vec<Option<StrColumn>>,
}

impl RecordLoader<'_> {
    /// The record at `addr` and what `key` makes of it and its stored bytes (the query layer's sort key hashes
    /// them; pass `|_, _| ()` when nothing is needed); `Ok(None)` when the document holds no valid stored record.
    pub fn load<K>(
        &mut self,
        addr: DocAddress,
        key: impl FnOnce(&LogRecord, &[u8]) -> K,
    ) -> tantivy::Result<Option<(LogRecord, K)>> {
        let doc: TantivyDocument = self.searcher.doc(addr)?;
        let Some(bytes) = doc.get_first(self.schema.source).and_then(|v| v.as_bytes()) else {
            return Ok(None);
        };
        let Ok(mut r) = serde_json::from_slice::<LogRecord>(bytes) else {
            return Ok(None);
        };
        let cols = match self.segments.entry(addr.segment_ord) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let fast = self.searcher.segment_reader(addr.segment_ord).fast_fields();
                let keywords = COLUMN_FIELDS
                    .iter()
                    .map(|f| fast.str(f))
                    .collect::<tantivy::Result<_>>()?;
                e.insert(SegmentColumns {
                    ts: fast.i64("ts").ok(),
                    keywords,
                })
            }
        };
        if let Some(ts) = cols.ts.as_ref().and_then(|c| c.first(addr.doc_id)) {
            r.ts = ts;
        }
        let slots: [&mut String; 7] = [
            &mut r.namespace,
            &mut r.app,
            &mut r.pod,
            &mut r.container,
            &mut r.node,
            &mut r.stream,
            &mut r.level,
        ];
        // the stored part leaves these out: a slot stays empty only when the record had no value
        for (slot, col) in slots.into_iter().zip(&cols.keywords) {
            if let Some((col, ord)) = col
                .as_ref()
                .and_then(|c| Some((c, c.ords().first(addr.doc_id)?)))
            {
                col.ord_to_str(ord, slot)?;
            }
        }
        let k = key(&r, bytes);
        Ok(Some((r, k)))
    }
}

impl Default for LogSchema {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use logmind_protocol::Source;
    use proptest::prelude::*;
    use serde::Serialize;
    use std::collections::BTreeMap;

    /// What the stored JSON was made from before it was written by hand: serde's output is the reference.
    #[derive(Serialize)]
    struct Stored<'a> {
        #[serde(skip_serializing_if = "str::is_empty")]
        request_id: &'a str,
        #[serde(skip_serializing_if = "str::is_empty")]
        user_id: &'a str,
        #[serde(skip_serializing_if = "str::is_empty")]
        trace_id: &'a str,
        message: &'a str,
        #[serde(skip_serializing_if = "str::is_empty")]
        container_id: &'a str,
        #[serde(skip_serializing_if = "is_zero")]
        restart: u32,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        fields: &'a BTreeMap<String, String>,
        source: &'a Source,
    }

    fn is_zero(v: &u32) -> bool {
        *v == 0
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[a-z0-9-]{1,12}",
            any::<String>(),
            "[\"\\\\\n\t\u{1}\u{7f}é✓ a]{0,20}",
        ]
    }

    proptest! {
        #[test]
        fn stored_json_is_serdes_bytes_and_reads_back(
            ids in (text(), text(), text()),
            message in text(),
            container_id in text(),
            restart in prop_oneof![Just(0u32), any::<u32>()],
            fields in proptest::collection::btree_map(text(), text(), 0..4),
            source in (text(), text(), any::<u64>()),
        ) {
            let r = LogRecord {
                request_id: ids.0,
                user_id: ids.1,
                trace_id: ids.2,
                message,
                container_id,
                restart,
                fields,
                source: Source { agent: source.0, file: source.1, offset: source.2 },
                ..LogRecord::default()
            };
            let want = serde_json::to_vec(&Stored {
                request_id: &r.request_id,
                user_id: &r.user_id,
                trace_id: &r.trace_id,
                message: &r.message,
                container_id: &r.container_id,
                restart: r.restart,
                fields: &r.fields,
                source: &r.source,
            })
            .unwrap();
            let got = stored_json(&r);
            prop_assert_eq!(&got, &want);
            let back: LogRecord = serde_json::from_slice(&got).unwrap();
            prop_assert_eq!(back, r);
        }
    }
}
