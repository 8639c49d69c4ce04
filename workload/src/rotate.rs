//! Rotation as kubelet and Docker's json-file driver perform it.
//!
//! kubelet (`containerLogManager.rotateLog`): delete the oldest rotated files so at most `keep − 2`
//! remain, gzip every remaining uncompressed rotated file (`<f>.tmp` then rename to `<f>.gz`, delete
//! `<f>`), then rename `N.log` → `N.log.<YYYYMMDD-hhmmss>` and start a new `N.log`. The newest rotated
//! file therefore stays uncompressed. kubelet checks periodically, so it never rotates twice within
//! the same second: neither do we (the rotation waits until the stamp changes).
//!
//! Docker (`loggerutils.LogFile.rotate`): delete `<id>-json.log.<keep−1>[.gz]`, shift `.i` → `.i+1`,
//! rename the current file to `.1`, then (with compression) gzip `.1` into `.1.gz`. With `keep < 2`
//! Docker truncates the file instead.

use crate::error::GenerateError;
use crate::timefmt::rotation_stamp;
use crate::writer::{open_new, Framing, LogFile, Segment};
use flate2::write::GzEncoder;
use flate2::Compression;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

fn append_ext(path: &Path, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(ext);
    PathBuf::from(s)
}

/// Gzips `src` into `dst` through `tmp` (renamed at the end), then removes `src`.
pub fn gzip_file(src: &Path, tmp: &Path, dst: &Path) -> Result<(), GenerateError> {
    let input =
        File::open(src).map_err(|e| GenerateError::io("opening file to compress", src, e))?;
    let output =
        File::create(tmp).map_err(|e| GenerateError::io("creating compressed file", tmp, e))?;
    let mut enc = GzEncoder::new(std::io::BufWriter::new(output), Compression::fast());
    std::io::copy(&mut BufReader::new(input), &mut enc)
        .map_err(|e| GenerateError::io("compressing", src, e))?;
    let mut w = enc
        .finish()
        .map_err(|e| GenerateError::io("compressing", tmp, e))?;
    std::io::Write::flush(&mut w)
        .map_err(|e| GenerateError::io("writing compressed file", tmp, e))?;
    drop(w);
    std::fs::rename(tmp, dst).map_err(|e| GenerateError::io("renaming compressed file", tmp, e))?;
    std::fs::remove_file(src).map_err(|e| GenerateError::io("removing compressed original", src, e))
}

fn remove(seg: &Segment) -> Result<(), GenerateError> {
    std::fs::remove_file(&seg.path)
        .map_err(|e| GenerateError::io("removing rotated file", &seg.path, e))
}

impl LogFile {
    /// Rotates the current file (called when it reached the size limit); `now` names kubelet files.
    pub(crate) fn rotate(&mut self, now: i64) -> Result<(), GenerateError> {
        match self.framing {
            Framing::Cri => self.rotate_kubelet(now),
            Framing::Docker => self.rotate_docker(),
        }
    }

    fn start_new_current(&mut self) -> Result<Segment, GenerateError> {
        let path = self.dir.join(&self.name);
        self.out = open_new(&path)?;
        Ok(std::mem::replace(
            &mut self.cur,
            Segment {
                path,
                ..Default::default()
            },
        ))
    }

    fn rotate_kubelet(&mut self, now: i64) -> Result<(), GenerateError> {
        let stamp = rotation_stamp(now);
        if stamp == self.last_stamp {
            return Ok(());
        }
        self.flush()?;
        let max_rotated = self.policy.keep.saturating_sub(2);
        while self.rotated.len() > max_rotated {
            let old = self.rotated.remove(0);
            remove(&old)?;
            self.deleted.push(old);
        }
        if self.policy.gzip {
            for seg in self.rotated.iter_mut().filter(|s| !s.compressed) {
                let tmp = append_ext(&seg.path, ".tmp");
                let gz = append_ext(&seg.path, ".gz");
                gzip_file(&seg.path, &tmp, &gz)?;
                seg.path = gz;
                seg.compressed = true;
            }
        }
        let rotated_path = self.dir.join(format!("{}.{stamp}", self.name));
        let cur_path = self.cur.path.clone();
        std::fs::rename(&cur_path, &rotated_path)
            .map_err(|e| GenerateError::io("rotating log file", &cur_path, e))?;
        let mut old = self.start_new_current()?;
        old.path = rotated_path;
        self.rotated.push(old);
        self.last_stamp = stamp;
        self.rotations += 1;
        Ok(())
    }

    fn docker_name(&self, i: usize, compressed: bool) -> PathBuf {
        let gz = if compressed { ".gz" } else { "" };
        self.dir.join(format!("{}.{i}{gz}", self.name))
    }

    fn rotate_docker(&mut self) -> Result<(), GenerateError> {
        self.flush()?;
        let keep = self.policy.keep;
        if keep < 2 {
            // Docker truncates the only file.
            let old = self.start_new_current()?;
            self.deleted.push(old);
            self.rotations += 1;
            return Ok(());
        }
        while self.rotated.len() >= keep - 1 {
            let old = self.rotated.remove(0);
            remove(&old)?;
            self.deleted.push(old);
        }
        // Shift from the oldest (highest number) down so nothing is overwritten.
        let n = self.rotated.len();
        for idx in 0..n {
            let number = n - idx + 1;
            let compressed = self.rotated[idx].compressed;
            let to = self.docker_name(number, compressed);
            let from = self.rotated[idx].path.clone();
            std::fs::rename(&from, &to)
                .map_err(|e| GenerateError::io("shifting rotated file", &from, e))?;
            self.rotated[idx].path = to;
        }
        let first = self.docker_name(1, false);
        let cur_path = self.cur.path.clone();
        std::fs::rename(&cur_path, &first)
            .map_err(|e| GenerateError::io("rotating log file", &cur_path, e))?;
        let mut old = self.start_new_current()?;
        old.path = first.clone();
        if self.policy.gzip {
            let gz = self.docker_name(1, true);
            gzip_file(&first, &append_ext(&gz, ".tmp"), &gz)?;
            old.path = gz;
            old.compressed = true;
        }
        self.rotated.push(old);
        self.rotations += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::RotatePolicy;
    use flate2::read::GzDecoder;
    use std::io::Read;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    const SEC: i64 = 1_000_000_000;
    const T0: i64 = 1_705_314_600 * SEC;

    #[test]
    fn kubelet_rotation_names_gzip_and_keep() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let policy = RotatePolicy {
            max_bytes: Some(100),
            keep: 4,
            gzip: true,
        };
        let mut f = LogFile::create(
            Framing::Cri,
            tmp.path().to_path_buf(),
            "0.log".into(),
            policy,
            16 * 1024,
        )
        .expect("create");
        for i in 0..20i64 {
            f.write_event(T0 + i * SEC, 1, false, &"a".repeat(120), None)
                .expect("write");
        }
        let (live, deleted) = f.finish().expect("finish");
        let got = names(tmp.path());
        // keep 4 = current + 2 rotated before the new one: 0.log, 2 gz, newest plain.
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[0], "0.log");
        assert!(got[1].starts_with("0.log.20240115-") && got[1].ends_with(".gz"));
        assert!(got[2].ends_with(".gz"));
        assert!(!got[3].ends_with(".gz") && got[3].starts_with("0.log.20240115-1030"));
        let total: u64 = live.iter().chain(&deleted).map(|s| s.events).sum();
        assert_eq!(total, 20);
        assert_eq!(live.len(), 4);
        let mut text = String::new();
        GzDecoder::new(File::open(tmp.path().join(&got[1])).expect("open"))
            .read_to_string(&mut text)
            .expect("gunzip");
        assert!(text.ends_with(&format!("{}\n", "a".repeat(120))));
        let seg = live
            .iter()
            .find(|s| s.path.ends_with(&got[1]))
            .expect("segment");
        assert_eq!(seg.bytes, text.len() as u64);
    }

    #[test]
    fn kubelet_waits_for_a_new_second() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let policy = RotatePolicy {
            max_bytes: Some(10),
            keep: 10,
            gzip: false,
        };
        let mut f = LogFile::create(
            Framing::Cri,
            tmp.path().to_path_buf(),
            "0.log".into(),
            policy,
            16 * 1024,
        )
        .expect("create");
        for i in 0..5 {
            f.write_event(T0 + i, 1, false, "hello", None)
                .expect("write");
        }
        f.finish().expect("finish");
        assert_eq!(names(tmp.path()).len(), 2);
    }

    #[test]
    fn docker_rotation_shifts_numbers() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let policy = RotatePolicy {
            max_bytes: Some(50),
            keep: 3,
            gzip: true,
        };
        let name = "abc-json.log".to_string();
        let mut f = LogFile::create(
            Framing::Docker,
            tmp.path().to_path_buf(),
            name,
            policy,
            16 * 1024,
        )
        .expect("create");
        for i in 0..6 {
            f.write_event(
                T0 + i,
                1,
                false,
                &format!("line {i} {}", "z".repeat(60)),
                None,
            )
            .expect("write");
        }
        let (live, deleted) = f.finish().expect("finish");
        assert_eq!(
            names(tmp.path()),
            ["abc-json.log", "abc-json.log.1.gz", "abc-json.log.2.gz"]
        );
        assert_eq!(deleted.len(), 3);
        assert_eq!(live.iter().map(|s| s.events).sum::<u64>(), 3);
        let mut text = String::new();
        GzDecoder::new(File::open(tmp.path().join("abc-json.log.2.gz")).expect("open"))
            .read_to_string(&mut text)
            .expect("gunzip");
        assert!(text.contains("line 3 "), "{text}");
    }
}
