//! Parsing of the stream replies the consumer reads (`XREADGROUP`, `XAUTOCLAIM`), RESP2 or
//! RESP3: what a hostile or unexpected reply reaches first.

use redis::Value;

use crate::Error;

/// The `XAUTOCLAIM` cursor of a scan that starts, or has finished, at the start of the group's
/// pending entries.
pub(super) const CLAIM_START: &str = "0-0";

/// One entry as read: its id and fields (`None` when the entry was deleted while pending).
pub(super) type Entry = (String, Option<Vec<(Vec<u8>, Vec<u8>)>>);

/// Parses an `XREADGROUP` reply of one stream, RESP2 (arrays) or RESP3 (maps): `nil`, or
/// `[[stream, [[id, [field, value, ..] | nil], ..]]]`.
pub(super) fn parse_read_reply(reply: Value) -> Result<Vec<Entry>, Error> {
    let streams = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams
            .into_iter()
            .map(|stream| match stream {
                Value::Array(mut pair) if pair.len() == 2 => Ok(pair.swap_remove(1)),
                other => Err(unexpected("stream", &other)),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Value::Map(streams) => streams.into_iter().map(|(_, entries)| entries).collect(),
        other => return Err(unexpected("reply", &other)),
    };
    let mut out = Vec::new();
    for entries in streams {
        out.extend(parse_entries(entries)?);
    }
    Ok(out)
}

/// Parses an `XAUTOCLAIM` reply: `[next cursor, [[id, fields | nil] | nil, ..], [deleted id, ..]]`
/// (the third element since Redis 7). Deleted entries come back without fields.
pub(super) fn parse_autoclaim_reply(reply: Value) -> Result<(String, Vec<Entry>), Error> {
    let Value::Array(parts) = reply else {
        return Err(unexpected("XAUTOCLAIM reply", &reply));
    };
    if !(2..=3).contains(&parts.len()) {
        return Err(unexpected("XAUTOCLAIM reply", &Value::Array(parts)));
    }
    let mut parts = parts.into_iter();
    let next: String = parts
        .next()
        .map(redis::from_redis_value)
        .transpose()
        .map_err(|e| Error::Redis(e.into()))?
        .unwrap_or_else(|| CLAIM_START.to_owned());
    let mut entries = match parts.next() {
        Some(entries) => parse_entries(entries)?,
        None => Vec::new(),
    };
    if let Some(deleted) = parts.next() {
        let deleted: Vec<String> =
            redis::from_redis_value(deleted).map_err(|e| Error::Redis(e.into()))?;
        entries.extend(deleted.into_iter().map(|id| (id, None)));
    }
    Ok((next, entries))
}

/// Parses a list of entries: `[[id, [field, value, ..] | {field: value} | nil] | nil, ..]`.
fn parse_entries(entries: Value) -> Result<Vec<Entry>, Error> {
    let Value::Array(entries) = entries else {
        return Err(unexpected("entries", &entries));
    };
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let mut parts = match entry {
            // Redis 6.2's XAUTOCLAIM: an entry deleted while pending.
            Value::Nil => continue,
            Value::Array(parts) if parts.len() >= 2 => parts,
            other => return Err(unexpected("entry", &other)),
        };
        let fields = parts.swap_remove(1);
        let id: String =
            redis::from_redis_value(parts.swap_remove(0)).map_err(|e| Error::Redis(e.into()))?;
        let fields = match fields {
            Value::Nil => None,
            Value::Array(flat) => {
                let mut pairs = Vec::with_capacity(flat.len() / 2);
                let mut flat = flat.into_iter();
                while let (Some(name), Some(value)) = (flat.next(), flat.next()) {
                    pairs.push((bytes(name)?, bytes(value)?));
                }
                Some(pairs)
            }
            Value::Map(map) => Some(
                map.into_iter()
                    .map(|(name, value)| Ok((bytes(name)?, bytes(value)?)))
                    .collect::<Result<_, Error>>()?,
            ),
            other => return Err(unexpected("fields", &other)),
        };
        out.push((id, fields));
    }
    Ok(out)
}

fn bytes(value: Value) -> Result<Vec<u8>, Error> {
    redis::from_redis_value(value).map_err(|e| Error::Redis(e.into()))
}

fn unexpected(what: &'static str, value: &Value) -> Error {
    let detail = format!("{value:?}").chars().take(100).collect::<String>();
    Error::Redis(redis::RedisError::from((
        redis::ErrorKind::UnexpectedReturnType,
        "unexpected stream reply",
        format!("{what}: {detail}"),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_of_every_shape_parse_or_fail_without_panicking() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let entry = Value::Array(vec![
            bulk("1-1"),
            Value::Array(vec![bulk("envelope"), bulk("{}"), bulk("odd")]),
        ]);
        let reply = Value::Array(vec![
            bulk("0-0"),
            Value::Array(vec![
                entry,
                Value::Nil,
                Value::Array(vec![bulk("2-1"), Value::Nil]),
            ]),
            Value::Array(vec![bulk("3-1")]),
        ]);
        let (next, entries) = parse_autoclaim_reply(reply).unwrap();
        assert_eq!(next, "0-0");
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].1.as_ref().unwrap().len(), 1);
        assert!(entries[1].1.is_none() && entries[2].1.is_none());

        for garbage in [
            Value::Nil,
            Value::Int(1),
            Value::Array(vec![]),
            Value::Array(vec![bulk("0-0")]),
            Value::Array(vec![bulk("0-0"), Value::Int(3)]),
            Value::Array(vec![bulk("0-0"), Value::Array(vec![Value::Int(3)])]),
            Value::Array(vec![bulk("0-0"), Value::Array(vec![]), Value::Int(1)]),
        ] {
            assert!(parse_autoclaim_reply(garbage).is_err());
        }
        for garbage in [
            Value::Int(1),
            Value::Array(vec![Value::Int(1)]),
            Value::Array(vec![Value::Array(vec![bulk("s"), Value::Int(2)])]),
        ] {
            assert!(parse_read_reply(garbage).is_err());
        }
        assert!(parse_read_reply(Value::Nil).unwrap().is_empty());
    }
}
