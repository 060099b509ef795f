//! The access rule of hinomi (DESIGN.md, "The access rule"): which reader may see
//! which stored item, decided from the item's owner organization, TLP level and
//! audience.
//!
//! Every read path asks this crate. A reader is compiled once per request into a
//! [`Scope`]; the store turns the same scope into its SQL filter, so what a query
//! returns and what [`Scope::allows`] says can never drift apart.
//!
//! Invariant: this crate does no IO and knows nothing of HTTP or SQL.

pub use hinomi_stix::Tlp;

/// The kinds of organization a hub knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrgKind {
    Coordinator,
    Government,
    LocalGovernment,
    Private,
    Isac,
    LawEnforcement,
    PeerHub,
}

impl OrgKind {
    /// Every kind, in the order of the API documentation.
    pub const ALL: [OrgKind; 7] = [
        OrgKind::Coordinator,
        OrgKind::Government,
        OrgKind::LocalGovernment,
        OrgKind::Private,
        OrgKind::Isac,
        OrgKind::LawEnforcement,
        OrgKind::PeerHub,
    ];

    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Coordinator => "coordinator",
            OrgKind::Government => "government",
            OrgKind::LocalGovernment => "local-government",
            OrgKind::Private => "private",
            OrgKind::Isac => "isac",
            OrgKind::LawEnforcement => "law-enforcement",
            OrgKind::PeerHub => "peer-hub",
        }
    }

    /// The inverse of [`OrgKind::as_str`].
    pub fn parse(s: &str) -> Option<OrgKind> {
        OrgKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Member organizations are every kind except peer hubs.
    pub fn is_member(self) -> bool {
        self != OrgKind::PeerHub
    }
}

/// Who is reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reader {
    /// No credentials: the public.
    Anonymous,
    /// An authenticated organization.
    Organization {
        /// The organization's id.
        org_id: String,
        /// Its kind.
        kind: OrgKind,
        /// Its own identity id and the identity ids of every community it belongs to:
        /// an item whose audience names any of these names this reader.
        audience_keys: Vec<String>,
        /// For peer hubs: whether the sharing agreement lets GREEN cross.
        peer_green: bool,
    },
}

/// A stored item as the access rule sees it.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    /// The owner organization's id.
    pub owner_org: &'a str,
    /// The item's TLP level.
    pub tlp: Tlp,
    /// The audience: identity ids of organizations and communities.
    pub audience: &'a [String],
}

/// A reader compiled into sets of TLP levels; see [`Scope::allows`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Levels visible whoever owns the item and whatever its audience.
    pub open: TlpSet,
    /// The reader's organization: it always sees what it owns.
    pub owner: Option<String>,
    /// Levels visible when the audience names one of `audience_keys`.
    pub by_audience: TlpSet,
    /// The reader's identity and community identities.
    pub audience_keys: Vec<String>,
    /// Levels visible when the item names no audience at all.
    pub without_audience: TlpSet,
}

/// A set of TLP levels, as a bit mask indexed by [`Tlp::as_i64`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TlpSet(u8);

impl TlpSet {
    /// The empty set.
    pub const EMPTY: TlpSet = TlpSet(0);

    /// A set of the given levels.
    pub fn of(levels: &[Tlp]) -> TlpSet {
        TlpSet(levels.iter().fold(0, |m, t| m | 1 << (*t as u8)))
    }

    /// Whether `t` is in the set.
    pub fn contains(self, t: Tlp) -> bool {
        self.0 & (1 << (t as u8)) != 0
    }

    /// The levels in the set, least restrictive first.
    pub fn levels(self) -> impl Iterator<Item = Tlp> {
        Tlp::ALL.into_iter().filter(move |t| self.contains(*t))
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl Scope {
    /// The rule of DESIGN.md, compiled for one reader.
    ///
    /// | TLP | inside the hub | a peer hub |
    /// |---|---|---|
    /// | CLEAR | everyone, also unauthenticated | yes |
    /// | GREEN | every member organization | where the agreement includes GREEN |
    /// | AMBER | owner, audience; coordinator when no audience | only when named in the audience |
    /// | AMBER+STRICT | owner, audience; coordinator when no audience | never |
    /// | RED | owner and named audience | never |
    ///
    /// An organization always sees the items it owns.
    pub fn for_reader(reader: &Reader) -> Scope {
        use Tlp::*;
        match reader {
            Reader::Anonymous => Scope {
                open: TlpSet::of(&[Clear]),
                owner: None,
                by_audience: TlpSet::EMPTY,
                audience_keys: Vec::new(),
                without_audience: TlpSet::EMPTY,
            },
            Reader::Organization {
                org_id,
                kind,
                audience_keys,
                peer_green,
            } => {
                let (open, by_audience, without_audience) = match kind {
                    OrgKind::PeerHub => (
                        if *peer_green {
                            TlpSet::of(&[Clear, Green])
                        } else {
                            TlpSet::of(&[Clear])
                        },
                        TlpSet::of(&[Amber]),
                        TlpSet::EMPTY,
                    ),
                    OrgKind::Coordinator => (
                        TlpSet::of(&[Clear, Green]),
                        TlpSet::of(&[Amber, AmberStrict, Red]),
                        TlpSet::of(&[Amber, AmberStrict]),
                    ),
                    _ => (
                        TlpSet::of(&[Clear, Green]),
                        TlpSet::of(&[Amber, AmberStrict, Red]),
                        TlpSet::EMPTY,
                    ),
                };
                Scope {
                    open,
                    owner: Some(org_id.clone()),
                    by_audience,
                    audience_keys: audience_keys.clone(),
                    without_audience,
                }
            }
        }
    }

    /// Whether the reader of this scope may see `item`.
    pub fn allows(&self, item: &Item<'_>) -> bool {
        self.open.contains(item.tlp)
            || self.owner.as_deref() == Some(item.owner_org)
            || (item.audience.is_empty() && self.without_audience.contains(item.tlp))
            || (self.by_audience.contains(item.tlp)
                && item
                    .audience
                    .iter()
                    .any(|a| self.audience_keys.iter().any(|k| k == a)))
    }
}

/// Why a write is refused by the handling rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteRefusal {
    /// RED needs a named audience (DESIGN.md).
    #[error("a TLP:RED object must name its audience (hinomi handling extension)")]
    RedWithoutAudience,
    /// `created_by_ref` names someone else.
    #[error("created_by_ref must be the submitting organization's identity {0}")]
    NotOwnIdentity(String),
    /// Only the owner adds versions.
    #[error("only the owner organization may add versions of this object")]
    NotOwner,
}

/// The write-side rules for one object: submitted by `org_identity`, claiming
/// `created_by_ref`, at level `tlp` with `audience`.
pub fn check_write(
    org_identity: &str,
    created_by_ref: Option<&str>,
    tlp: Tlp,
    audience: &[String],
) -> Result<(), WriteRefusal> {
    if let Some(c) = created_by_ref {
        if c != org_identity {
            return Err(WriteRefusal::NotOwnIdentity(org_identity.to_string()));
        }
    }
    if tlp == Tlp::Red && audience.is_empty() {
        return Err(WriteRefusal::RedWithoutAudience);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(kind: OrgKind, id: &str, keys: &[&str]) -> Reader {
        Reader::Organization {
            org_id: id.into(),
            kind,
            audience_keys: keys.iter().map(|s| s.to_string()).collect(),
            peer_green: false,
        }
    }

    #[test]
    fn table() {
        let coord = Scope::for_reader(&org(OrgKind::Coordinator, "c", &["identity--c"]));
        let member = Scope::for_reader(&org(
            OrgKind::Private,
            "m",
            &["identity--m", "identity--comm"],
        ));
        let peer = Scope::for_reader(&org(OrgKind::PeerHub, "p", &["identity--p"]));
        let anon = Scope::for_reader(&Reader::Anonymous);
        let none: Vec<String> = vec![];
        let to_m = vec!["identity--comm".to_string()];
        let to_p = vec!["identity--p".to_string()];
        let item = |tlp, aud: &'static Vec<String>| Item {
            owner_org: "o",
            tlp,
            audience: aud,
        };
        let none: &'static Vec<String> = Box::leak(Box::new(none));
        let to_m: &'static Vec<String> = Box::leak(Box::new(to_m));
        let to_p: &'static Vec<String> = Box::leak(Box::new(to_p));
        // (tlp, audience) -> (coord, member, peer, anon)
        let cases = [
            (Tlp::Clear, none, [true, true, true, true]),
            (Tlp::Green, none, [true, true, false, false]),
            (Tlp::Amber, none, [true, false, false, false]),
            (Tlp::Amber, to_m, [false, true, false, false]),
            (Tlp::Amber, to_p, [false, false, true, false]),
            (Tlp::AmberStrict, none, [true, false, false, false]),
            (Tlp::AmberStrict, to_m, [false, true, false, false]),
            (Tlp::AmberStrict, to_p, [false, false, false, false]),
            (Tlp::Red, to_m, [false, true, false, false]),
            (Tlp::Red, to_p, [false, false, false, false]),
        ];
        for (tlp, aud, expect) in cases {
            let i = item(tlp, aud);
            let got = [
                coord.allows(&i),
                member.allows(&i),
                peer.allows(&i),
                anon.allows(&i),
            ];
            assert_eq!(got, expect, "{tlp} audience {aud:?}");
        }
        let own = Item {
            owner_org: "m",
            tlp: Tlp::Red,
            audience: to_p,
        };
        assert!(member.allows(&own));
    }

    #[test]
    fn write_rules() {
        assert_eq!(
            check_write("identity--a", Some("identity--b"), Tlp::Green, &[]),
            Err(WriteRefusal::NotOwnIdentity("identity--a".into()))
        );
        assert_eq!(
            check_write("identity--a", None, Tlp::Red, &[]),
            Err(WriteRefusal::RedWithoutAudience)
        );
        assert!(check_write(
            "identity--a",
            Some("identity--a"),
            Tlp::Red,
            &["identity--b".into()]
        )
        .is_ok());
    }
}
