//! The one did-you-mean of Keel. The host's config validation (unknown keys, services, values)
//! and the plugin SDK's settings reader (unknown settings and values, inside a WebAssembly
//! plugin) both call [`did_you_mean`], so one typo gets one suggestion wherever it is reported.

/// The closest of `candidates` to `word`, when it is close enough to be a likely typo.
///
/// ASCII case and the `-`/`_` spelling are not counted as differences (`Port`, `binary-path`),
/// so a key written in the other style is always found. Otherwise a candidate qualifies with
/// few edits (optimal string alignment: Levenshtein with a swap of two neighbours as one edit;
/// one edit per three characters, at least one) or a long shared prefix (Jaro-Winkler above
/// 0.85); the fewest edits win, then the higher similarity, then the earlier candidate.
///
/// Both choices keep the code small inside a plugin: Unicode case tables or the hash map of
/// unrestricted Damerau-Levenshtein would grow every component built on the SDK.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word_n = normalize(word);
    let max_edits = (word_n.chars().count() / 3).max(1);
    let mut best: Option<(usize, f64, &'a str)> = None;
    for candidate in candidates {
        if candidate == word {
            continue;
        }
        let c = normalize(candidate);
        let edits = strsim::osa_distance(&word_n, &c);
        let similarity = strsim::jaro_winkler(&word_n, &c);
        if edits > max_edits && similarity <= 0.85 {
            continue;
        }
        let better = match best {
            None => true,
            Some((e, s, _)) => edits < e || (edits == e && similarity > s),
        };
        if better {
            best = Some((edits, similarity, candidate));
        }
    }
    best.map(|(_, _, c)| c)
}

fn normalize(s: &str) -> String {
    s.to_ascii_lowercase().replace('-', "_")
}

/// Typos and what they must suggest, one case a line: `typo -> expected | candidate, ...`, with
/// `-` for no suggestion. Both sides of the project test themselves against this table (the
/// host's config validation and the SDK's settings reader), so they cannot drift apart.
pub const CASES: &str = include_str!("../cases.txt");

/// The parsed [`CASES`]: (typo, expected suggestion, candidates).
pub fn cases() -> Vec<(&'static str, Option<&'static str>, Vec<&'static str>)> {
    CASES
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (typo, rest) = line
                .split_once("->")
                .expect("`typo -> expected | candidates`");
            let (expected, candidates) = rest.split_once('|').expect("a `|` before the candidates");
            let expected = expected.trim();
            (
                typo.trim(),
                (expected != "-").then_some(expected),
                candidates.split(',').map(str::trim).collect(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds() {
        let cases = cases();
        assert!(cases.len() >= 10);
        for (typo, expected, candidates) in cases {
            assert_eq!(
                did_you_mean(typo, candidates.iter().copied()),
                expected,
                "{typo} among {candidates:?}"
            );
        }
    }
}
