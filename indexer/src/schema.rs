//! The tantivy schema every partition uses, and the mapping between [`LogRecord`] and documents.
//!
//! This is the contract between the writer (ingest) and the query layer: field names and options live here
//! and nowhere else.

use crate::tokenizer::{register_tokenizers, MESSAGE_TOKENIZER};
use logmind_protocol::LogRecord;
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value, FAST,
    INDEXED, STORED,
};
use tantivy::{Index, TantivyDocument};

/// Keyword fields: raw-tokenised (exact match) and fast (aggregations without loading documents).
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
    /// Event time, ns since the epoch (i64, indexed + fast).
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
    /// Error-template id of the message (u64, indexed + fast).
    pub template: Field,
    /// Message length in bytes (u64, fast): volumes and `bytes_over_time` without loading documents.
    pub size: Field,
    /// The whole record as JSON (stored, compressed doc store).
    pub source: Field,
}

impl LogSchema {
    /// Builds the schema.
    pub fn new() -> Self {
        let mut b = Schema::builder();
        let ts = b.add_i64_field("ts", NumericOptions::default() | INDEXED | FAST);
        // Keyword fields: raw token, no positions, no fieldnorms (one token each, never scored), fast.
        let kw = || {
            TextOptions::default()
                .set_indexing_options(
                    TextFieldIndexing::default()
                        .set_tokenizer("raw")
                        .set_fieldnorms(false)
                        .set_index_option(IndexRecordOption::Basic),
                )
                .set_fast("raw")
        };
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
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            ),
        );
        let template = b.add_u64_field("template", NumericOptions::default() | INDEXED | FAST);
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
        doc.add_u64(self.template, template);
        doc.add_u64(self.size, r.message.len() as u64);
        let json = serde_json::to_vec(r).unwrap_or_default();
        doc.add_bytes(self.source, &json);
        doc
    }

    /// Reads the record back from a stored document.
    pub fn to_record(&self, doc: &TantivyDocument) -> Option<LogRecord> {
        let bytes = doc.get_first(self.source)?.as_bytes()?;
        serde_json::from_slice(bytes).ok()
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

impl Default for LogSchema {
    fn default() -> Self {
        Self::new()
    }
}
