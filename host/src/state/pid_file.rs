//! The PID file of a running service (`pids/NAME.pid`). Its first line is the PID alone, as
//! tools that read PID files expect (`read pid < NAME.pid`, `head -1`); `key=value` lines
//! follow with what a daemon needs to take the process back when the service's record is
//! lost: the process's start time (so a reused PID is never taken for the service) and how it
//! is stopped when that is not the default SIGTERM. An older Keel wrote the PID line only;
//! such a file still reads, without a start time.

use super::ServiceRecord;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidFile {
    pub pid: i32,
    /// The process's start time in clock ticks since boot (`/proc/PID/stat`, field 22).
    pub start_time: Option<u64>,
    pub stop_signal: Option<String>,
    pub stop_command: Option<Vec<String>>,
}

impl PidFile {
    /// What the PID file of `record` holds; `None` when it has no process.
    pub fn of(record: &ServiceRecord) -> Option<Self> {
        record.process.map(|p| Self {
            pid: p.pid,
            start_time: Some(p.start_time),
            stop_signal: record.stop_signal.clone(),
            stop_command: record.stop_command.clone(),
        })
    }

    pub fn render(&self) -> String {
        let mut out = format!("{}\n", self.pid);
        if let Some(t) = self.start_time {
            out.push_str(&format!("start_time={t}\n"));
        }
        if let Some(s) = &self.stop_signal {
            out.push_str(&format!("stop_signal={s}\n"));
        }
        if let Some(c) = &self.stop_command {
            // JSON keeps every argument, spaces and newlines included, on one line.
            let json = serde_json::to_string(c).expect("strings serialize");
            out.push_str(&format!("stop_command={json}\n"));
        }
        out
    }

    /// Reads a PID file's text. Keys it does not know are skipped (a later Keel may add
    /// some); anything else that is not as written is an error saying what.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut lines = text.lines();
        let first = lines.next().unwrap_or_default().trim();
        let pid = match first.parse::<i32>() {
            Ok(pid) if pid > 0 => pid,
            _ => return Err(format!("its first line {first:?} is not a PID")),
        };
        let mut file = Self {
            pid,
            start_time: None,
            stop_signal: None,
            stop_command: None,
        };
        for line in lines.map(str::trim).filter(|l| !l.is_empty()) {
            let Some((key, value)) = line.split_once('=') else {
                return Err(format!("line {line:?} is not key=value"));
            };
            match key {
                "start_time" => {
                    let t = value
                        .parse()
                        .map_err(|_| format!("start_time {value:?} is not a number"))?;
                    file.start_time = Some(t);
                }
                "stop_signal" => file.stop_signal = Some(value.to_string()),
                "stop_command" => {
                    let c = serde_json::from_str(value)
                        .map_err(|e| format!("stop_command is not a list of strings: {e}"))?;
                    file.stop_command = Some(c);
                }
                _ => {}
            }
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_files_read_back_and_begin_with_the_pid_alone() {
        let f = PidFile {
            pid: 4242,
            start_time: Some(987654),
            stop_signal: Some("SIGINT".into()),
            stop_command: Some(vec!["docker".into(), "stop".into(), "a b\nc".into()]),
        };
        let text = f.render();
        assert_eq!(text.lines().next(), Some("4242"));
        assert_eq!(PidFile::parse(&text), Ok(f));
    }

    #[test]
    fn an_older_keels_file_is_the_pid_alone() {
        let f = PidFile::parse("4242\n").unwrap();
        assert_eq!((f.pid, f.start_time, f.stop_signal), (4242, None, None));
        // And keys of a later Keel are skipped.
        let f = PidFile::parse("4242\nstart_time=7\nnext_thing=x\n").unwrap();
        assert_eq!(f.start_time, Some(7));
    }

    #[test]
    fn damaged_files_are_errors() {
        for text in [
            "",
            "\n",
            "zz\n",
            "0\n",
            "-5\n",
            "42 43\n",
            "\u{0}\u{1}garbage",
            "4242\nstart_time=soon\n",
            "4242\ngarbage\n",
            "4242\nstop_command=[1,2]\n",
        ] {
            assert!(PidFile::parse(text).is_err(), "{text:?} was accepted");
        }
    }
}
