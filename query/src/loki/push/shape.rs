//! Counting a push before decoding it: how many streams, entries and small items (stream labels, structured
//! metadata pairs, JSON values nested in an entry) it holds, and how many bytes of fields its records would
//! copy. A few bytes on the wire can take hundreds once decoded (an empty protobuf entry is 2 bytes and a
//! 384-byte record; a JSON `[]` is 3 bytes and a `Vec` of values; a label is copied into every entry of its
//! stream), so these are checked against the limits of [`super`] first, and nothing is built for them here.
//!
//! Protobuf is walked with hand-written `prost::Message`s that count and skip; JSON with serde visitors over
//! `IgnoredAny` (keys and label values are read as transient strings, nothing else is kept).

use super::field_cost;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// What a push holds (see the module docs).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PushShape {
    /// Streams.
    pub streams: usize,
    /// Entries.
    pub entries: usize,
    /// Stream labels (for protobuf, an upper bound: the `=` signs of the label string), structured-metadata
    /// pairs and, in JSON, every further value nested in an entry.
    pub items: usize,
    /// Bytes of fields the records would copy from labels and metadata ([`field_cost`] each): known here for
    /// JSON; for protobuf counted once the label strings are parsed.
    pub copies: u64,
    /// Length of the longest label string of a protobuf stream (0 for JSON, whose labels are an object).
    pub longest_labels: usize,
}

impl PushShape {
    /// Counts a protobuf `PushRequest` on the wire.
    pub fn of_protobuf(raw: &[u8]) -> Result<PushShape, prost::DecodeError> {
        <ProtoPush as prost::Message>::decode(raw).map(|p| p.0)
    }

    /// Counts a JSON push (`{"streams":[{"stream":{…},"values":[[ts, line, {metadata}], …]}]}`). A body that is
    /// not JSON is an error here; one of the wrong shape is counted as far as it has one (the full parse names
    /// what is wrong with it).
    pub fn of_json(body: &[u8]) -> Result<PushShape, serde_json::Error> {
        let mut shape = PushShape::default();
        let mut de = serde_json::Deserializer::from_slice(body);
        Top(&mut shape).deserialize(&mut de)?;
        de.end()?;
        Ok(shape)
    }
}

// ---- protobuf ----

/// [`PushShape`] of a `PushRequest`.
#[derive(Debug, Default)]
struct ProtoPush(PushShape);

/// [`PushShape`] of one `StreamAdapter` (its `streams` unused).
#[derive(Debug, Default)]
struct ProtoStream(PushShape);

/// The structured-metadata pairs of one `EntryAdapter`, counted.
#[derive(Debug, Default)]
struct ProtoEntry {
    pairs: usize,
}

/// A `prost::Message` that only counts: `$count` reads one field (tag, wire type, buffer, context) into `$me`,
/// descending into the messages it counts inside and skipping everything else.
macro_rules! counting_message {
    ($ty:ty, |$me:ident, $tag:ident, $wt:ident, $buf:ident, $ctx:ident| $count:block) => {
        impl prost::Message for $ty {
            fn encode_raw(&self, _buf: &mut impl prost::bytes::BufMut) {}

            fn merge_field(
                &mut self,
                $tag: u32,
                $wt: prost::encoding::WireType,
                $buf: &mut impl prost::bytes::Buf,
                $ctx: prost::encoding::DecodeContext,
            ) -> Result<(), prost::DecodeError> {
                let $me = self;
                $count
            }

            fn encoded_len(&self) -> usize {
                0
            }

            fn clear(&mut self) {
                *self = <$ty>::default();
            }
        }
    };
}

// `PushRequest.streams` is field 1.
counting_message!(ProtoPush, |me, tag, wt, buf, ctx| {
    if tag != 1 {
        return prost::encoding::skip_field(wt, tag, buf, ctx);
    }
    let mut stream = ProtoStream::default();
    prost::encoding::message::merge(wt, &mut stream, buf, ctx)?;
    me.0.streams += 1;
    me.0.entries += stream.0.entries;
    me.0.items += stream.0.items;
    me.0.longest_labels = me.0.longest_labels.max(stream.0.longest_labels);
    Ok(())
});

// `StreamAdapter.labels` is field 1, `.entries` field 2.
counting_message!(ProtoStream, |me, tag, wt, buf, ctx| {
    match tag {
        1 => {
            let mut labels = Vec::new();
            prost::encoding::bytes::merge(wt, &mut labels, buf, ctx)?;
            // Every matcher of `{a="b", …}` has one `=` outside its quotes.
            me.0.items += labels.iter().filter(|&&b| b == b'=').count();
            me.0.longest_labels = me.0.longest_labels.max(labels.len());
            Ok(())
        }
        2 => {
            let mut entry = ProtoEntry::default();
            prost::encoding::message::merge(wt, &mut entry, buf, ctx)?;
            me.0.entries += 1;
            me.0.items += entry.pairs;
            Ok(())
        }
        _ => prost::encoding::skip_field(wt, tag, buf, ctx),
    }
});

// `EntryAdapter.structured_metadata` is field 3.
counting_message!(ProtoEntry, |me, tag, wt, buf, ctx| {
    if tag == 3 {
        me.pairs += 1;
    }
    prost::encoding::skip_field(wt, tag, buf, ctx)
});

// ---- JSON ----

/// The push object: counts its `streams`.
struct Top<'a>(&'a mut PushShape);

/// The `streams` array.
struct Streams<'a>(&'a mut PushShape);

/// One stream object: its labels (`stream`) and `values`.
struct Stream<'a>(&'a mut PushShape);

/// A stream's `stream` labels: (how many, bytes each entry copies).
struct Labels;

/// A stream's `values`: (entries, items, metadata bytes copied).
struct Values;

/// One entry `[ts, line, {metadata}]`: (items, metadata bytes copied).
struct Value;

/// Structured metadata `{name: value}`: (pairs + nested values, bytes copied).
struct Metadata;

/// Any JSON value, walked: (values nested in it, about the bytes of its text).
struct Nested;

/// `expecting` for visitors that take what they are given.
/// Each visitor below is its own seed: it deserializes whatever comes, answering what its visitor answers.
macro_rules! seed_of_visitor {
    ($($ty:ty),*) => {$(
        impl<'de> DeserializeSeed<'de> for $ty {
            type Value = <Self as Visitor<'de>>::Value;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
        }
    )*};
}

seed_of_visitor!(
    Top<'_>,
    Streams<'_>,
    Stream<'_>,
    Values,
    Labels,
    Value,
    Metadata,
    Nested
);

macro_rules! expecting {
    ($what:literal) => {
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str($what)
        }
    };
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();
    expecting!("a push object");
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        while let Some(key) = m.next_key::<String>()? {
            if key == "streams" {
                m.next_value_seed(Streams(self.0))?;
            } else {
                m.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for Streams<'_> {
    type Value = ();
    expecting!("an array of streams");
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
        while s.next_element_seed(Stream(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

impl<'de> Visitor<'de> for Stream<'_> {
    type Value = ();
    expecting!("a stream object");
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        let (mut labels, mut per_entry) = (0, 0u64);
        let (mut entries, mut items, mut metadata) = (0, 0, 0u64);
        while let Some(key) = m.next_key::<String>()? {
            match key.as_str() {
                "stream" => {
                    let (n, b) = m.next_value_seed(Labels)?;
                    labels += n;
                    per_entry += b;
                }
                "values" => {
                    let (e, i, b) = m.next_value_seed(Values)?;
                    entries += e;
                    items += i;
                    metadata += b;
                }
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        let s = &mut *self.0;
        s.streams += 1;
        s.entries += entries;
        s.items = s.items.saturating_add(labels).saturating_add(items);
        s.copies = s
            .copies
            .saturating_add((entries as u64).saturating_mul(per_entry))
            .saturating_add(metadata);
        Ok(())
    }
}

impl<'de> Visitor<'de> for Labels {
    type Value = (usize, u64);
    expecting!("a label object");
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(usize, u64), A::Error> {
        let (mut n, mut bytes) = (0, 0u64);
        while let Some(key) = m.next_key::<String>()? {
            let (_, len) = m.next_value_seed(Nested)?;
            n += 1;
            bytes = bytes.saturating_add(field_cost(&key, len));
        }
        Ok((n, bytes))
    }
}

impl<'de> Visitor<'de> for Values {
    type Value = (usize, usize, u64);
    expecting!("an array of values");
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
        let (mut entries, mut items, mut bytes) = (0usize, 0usize, 0u64);
        while let Some((i, b)) = s.next_element_seed(Value)? {
            entries += 1;
            items = items.saturating_add(i);
            bytes = bytes.saturating_add(b);
        }
        Ok((entries, items, bytes))
    }
}

impl<'de> Visitor<'de> for Value {
    type Value = (usize, u64);
    expecting!("a value array [timestamp, line, metadata]");
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(usize, u64), A::Error> {
        let (mut items, mut bytes) = (0usize, 0u64);
        let mut i = 0;
        loop {
            let got = if i == 2 {
                s.next_element_seed(Metadata)?
            } else {
                // The timestamp and line are one value each (counted with their entry); anything nested in
                // them, and any further element, is counted.
                s.next_element_seed(Nested)?
                    .map(|(n, _)| (n + usize::from(i > 2), 0))
            };
            let Some((n, b)) = got else { break };
            items = items.saturating_add(n);
            bytes = bytes.saturating_add(b);
            i += 1;
        }
        Ok((items, bytes))
    }
}

impl<'de> Visitor<'de> for Metadata {
    type Value = (usize, u64);
    expecting!("a metadata object");
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(usize, u64), A::Error> {
        let (mut items, mut bytes) = (0usize, 0u64);
        while let Some(key) = m.next_key::<String>()? {
            let (n, len) = m.next_value_seed(Nested)?;
            items = items.saturating_add(1 + n);
            bytes = bytes.saturating_add(field_cost(&key, len));
        }
        Ok((items, bytes))
    }

    // Not an object (the full parse refuses or ignores it): counted like any value.
    fn visit_seq<A: SeqAccess<'de>>(self, s: A) -> Result<(usize, u64), A::Error> {
        let (n, _) = Nested.visit_seq(s)?;
        Ok((n + 1, 0))
    }

    fn visit_bool<E>(self, _: bool) -> Result<(usize, u64), E> {
        Ok((1, 0))
    }
    fn visit_i64<E>(self, _: i64) -> Result<(usize, u64), E> {
        Ok((1, 0))
    }
    fn visit_u64<E>(self, _: u64) -> Result<(usize, u64), E> {
        Ok((1, 0))
    }
    fn visit_f64<E>(self, _: f64) -> Result<(usize, u64), E> {
        Ok((1, 0))
    }
    fn visit_str<E>(self, _: &str) -> Result<(usize, u64), E> {
        Ok((1, 0))
    }
    fn visit_unit<E>(self) -> Result<(usize, u64), E> {
        Ok((1, 0))
    }
}

/// Upper bound of the text of a number (`v.to_string()` of a JSON number).
const NUMBER_TEXT: usize = 24;

impl<'de> Visitor<'de> for Nested {
    type Value = (usize, usize);
    expecting!("any JSON value");
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(usize, usize), A::Error> {
        let (mut n, mut len) = (0usize, 2usize);
        while let Some(key) = m.next_key::<String>()? {
            let (inner, l) = m.next_value_seed(Nested)?;
            n = n.saturating_add(1 + inner);
            len = len.saturating_add(key.len() + 4 + l);
        }
        Ok((n, len))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(usize, usize), A::Error> {
        let (mut n, mut len) = (0usize, 2usize);
        while let Some((inner, l)) = s.next_element_seed(Nested)? {
            n = n.saturating_add(1 + inner);
            len = len.saturating_add(l + 1);
        }
        Ok((n, len))
    }
    fn visit_bool<E>(self, _: bool) -> Result<(usize, usize), E> {
        Ok((0, 5))
    }
    fn visit_i64<E>(self, _: i64) -> Result<(usize, usize), E> {
        Ok((0, NUMBER_TEXT))
    }
    fn visit_u64<E>(self, _: u64) -> Result<(usize, usize), E> {
        Ok((0, NUMBER_TEXT))
    }
    fn visit_f64<E>(self, _: f64) -> Result<(usize, usize), E> {
        Ok((0, NUMBER_TEXT))
    }
    fn visit_str<E>(self, v: &str) -> Result<(usize, usize), E> {
        Ok((0, v.len()))
    }
    fn visit_unit<E>(self) -> Result<(usize, usize), E> {
        Ok((0, 4))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::{
        EntryAdapter, LabelPair, PushRequest, StreamAdapter, Timestamp, FIELD_OVERHEAD,
    };
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// Label and metadata names: some map onto the record (not copied), some go into `fields`.
    const NAMES: [&str; 6] = ["namespace", "job", "level", "filename", "instance", "x"];

    /// (labels, entries of (line, metadata)) per stream.
    type Push = Vec<(Vec<(usize, String)>, Vec<(String, Vec<(usize, String)>)>)>;

    fn push() -> impl Strategy<Value = Push> {
        let pairs = || proptest::collection::vec((0..NAMES.len(), "[a-z0-9 ]{0,12}"), 0..4);
        proptest::collection::vec(
            (
                pairs(),
                proptest::collection::vec(("[a-z ]{0,20}", pairs()), 0..6),
            ),
            0..4,
        )
    }

    /// What a copied label or pair takes, written out here rather than taken from the code under test.
    fn cost(k: &str, v: &str) -> u64 {
        64 + k.len() as u64 + v.len() as u64
    }

    /// What the decode of `p` builds: the shape the counting must find.
    fn expected(p: &Push) -> PushShape {
        let mut e = PushShape::default();
        for (labels, entries) in p {
            let labels: std::collections::BTreeMap<&str, &str> = labels
                .iter()
                .map(|(k, v)| (NAMES[*k], v.as_str()))
                .collect();
            let per_entry: u64 = labels.iter().map(|(k, v)| cost(k, v)).sum();
            e.streams += 1;
            e.items += labels.len();
            e.entries += entries.len();
            e.copies += per_entry * entries.len() as u64;
            for (_, meta) in entries {
                let meta: std::collections::BTreeMap<&str, &str> =
                    meta.iter().map(|(k, v)| (NAMES[*k], v.as_str())).collect();
                e.items += meta.len();
                e.copies += meta.iter().map(|(k, v)| cost(k, v)).sum::<u64>();
            }
        }
        e
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn json_is_counted_as_it_would_be_built(p in push()) {
            let streams: Vec<serde_json::Value> = p.iter().map(|(labels, entries)| {
                let labels: serde_json::Map<String, serde_json::Value> =
                    labels.iter().map(|(k, v)| (NAMES[*k].to_string(), json!(v))).collect();
                let values: Vec<serde_json::Value> = entries.iter().map(|(line, meta)| {
                    if meta.is_empty() {
                        json!(["1", line])
                    } else {
                        let meta: serde_json::Map<String, serde_json::Value> =
                            meta.iter().map(|(k, v)| (NAMES[*k].to_string(), json!(v))).collect();
                        json!(["1", line, meta])
                    }
                }).collect();
                json!({"stream": labels, "values": values})
            }).collect();
            let body = serde_json::to_vec(&json!({"streams": streams})).unwrap();
            prop_assert_eq!(PushShape::of_json(&body).unwrap(), expected(&p));
        }

        #[test]
        fn protobuf_is_counted_as_it_would_be_built(p in push()) {
            let req = PushRequest {
                streams: p.iter().map(|(labels, entries)| {
                    let labels: std::collections::BTreeMap<&str, &str> =
                        labels.iter().map(|(k, v)| (NAMES[*k], v.as_str())).collect();
                    let sel: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                    StreamAdapter {
                        labels: format!("{{{}}}", sel.join(", ")),
                        entries: entries.iter().map(|(line, meta)| {
                            let meta: std::collections::BTreeMap<&str, &str> =
                                meta.iter().map(|(k, v)| (NAMES[*k], v.as_str())).collect();
                            EntryAdapter {
                                timestamp: Some(Timestamp { seconds: 1, nanos: 0 }),
                                line: line.clone(),
                                structured_metadata: meta.iter().map(|(k, v)| LabelPair {
                                    name: k.to_string(),
                                    value: v.to_string(),
                                }).collect(),
                            }
                        }).collect(),
                        hash: 7,
                    }
                }).collect(),
            };
            let raw = prost::Message::encode_to_vec(&req);
            let longest_labels = req.streams.iter().map(|s| s.labels.len()).max().unwrap_or(0);
            let want = PushShape { copies: 0, longest_labels, ..expected(&p) };
            prop_assert_eq!(PushShape::of_protobuf(&raw).unwrap(), want);
        }
    }

    #[test]
    fn json_values_nested_in_an_entry_are_counted() {
        // The metadata pair (1) and its 3 nested numbers, an element past the metadata (1), and 2 values
        // nested in the line (which the parse refuses, after building them).
        let body = br#"{"streams":[{"values":[["1",["a",{"b":0}],{"k":[0,0,0]},5]]}]}"#;
        let s = PushShape::of_json(body).unwrap();
        assert_eq!((s.streams, s.entries, s.items), (1, 1, 1 + 3 + 1 + 3));
        // Its value is copied as about its text: `[0,0,0]` is 7 bytes, counted as at most 2 + 3 × 25.
        assert!(s.copies >= FIELD_OVERHEAD + 1 + 7 && s.copies <= FIELD_OVERHEAD + 1 + 77);
    }

    #[test]
    fn json_of_the_wrong_kind_is_an_error_naming_what_was_expected() {
        let e = PushShape::of_json(b"[]").unwrap_err().to_string();
        assert!(e.contains("a push object"), "{e}");
        let e = PushShape::of_json(br#"{"streams":[{"values":["x"]}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a value array"), "{e}");
        let e = PushShape::of_json(br#"{"streams":[]} x"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("trailing"), "{e}");
        // Unknown keys are skipped whatever they hold.
        let s =
            PushShape::of_json(br#"{"x":[[[1]]],"streams":[{"y":{"z":[]},"values":[]}]}"#).unwrap();
        assert_eq!((s.streams, s.entries, s.items), (1, 0, 0));
    }

    #[test]
    fn a_label_is_copied_into_every_entry_of_its_stream() {
        let values = vec![json!(["1", "x"]); 1000];
        let body = serde_json::to_vec(&json!({"streams": [
            {"stream": {"namespace": "a", "filename": "/var/log/app.log"}, "values": values}
        ]}))
        .unwrap();
        let s = PushShape::of_json(&body).unwrap();
        assert_eq!(s.items, 2, "two labels");
        assert_eq!(
            s.copies,
            1000 * ((FIELD_OVERHEAD + 9 + 1) + (FIELD_OVERHEAD + 8 + 16)),
            "both labels (namespace fills a record field, filename goes into fields), per entry"
        );
    }
}
