import { bytesEqual } from "../../../shared/src/crypto/encoding.js";
import type { PublicIdentity } from "../../../shared/src/crypto/index.js";
import { ErrorCode, FlError } from "../../../shared/src/errors.js";

/** What a part needs of the allowlist: the key of a site, read at the moment of asking. */
export interface EnrolledSites {
  get(siteId: string): PublicIdentity | undefined;
}

/** Where enrolment changes made at run time are kept, so that a restart starts from them. */
export interface EnrolmentFiles {
  /** Keeps a newly enrolled site's public identity (the coordinator's sitesDir). */
  enrolled(site: PublicIdentity): void;
  /** Moves a revoked site's public identity aside, so that a restart does not enrol it again. */
  revoked(siteId: string): void;
}

/**
 * The allowlist, changeable while the federation runs: only these sites can join, and their
 * keys check what they sign. Everything that asks "is this site enrolled, with which key?"
 * (joins, upload signatures) reads it at the moment of asking, so a change takes effect at once.
 */
export class Enrolment {
  private readonly sites: Map<string, PublicIdentity>;

  constructor(
    initial: ReadonlyMap<string, PublicIdentity>,
    private readonly files?: EnrolmentFiles,
  ) {
    this.sites = new Map(initial);
  }

  get(siteId: string): PublicIdentity | undefined {
    return this.sites.get(siteId);
  }

  has(siteId: string): boolean {
    return this.sites.has(siteId);
  }

  /** The enrolled sites, sorted by id. */
  list(): PublicIdentity[] {
    return [...this.sites.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  /**
   * Enrols a site. The same key again is a no-op (false); another key for an enrolled id is
   * refused: rotating a key is a revocation and a new enrolment, said in as many words.
   */
  add(site: PublicIdentity): boolean {
    const current = this.sites.get(site.id);
    if (current) {
      if (sameKeys(current, site)) return false;
      throw new FlError(
        ErrorCode.InvalidArgument,
        `site "${site.id}" is already enrolled with another key: revoke it first to replace its key`,
      );
    }
    this.files?.enrolled(site);
    this.sites.set(site.id, site);
    return true;
  }

  /** Revokes a site; FlError(NotFound) when it is not enrolled. */
  revoke(siteId: string): PublicIdentity {
    const site = this.sites.get(siteId);
    if (!site) throw new FlError(ErrorCode.NotFound, `site "${siteId}" is not enrolled`);
    this.files?.revoked(siteId);
    this.sites.delete(siteId);
    return site;
  }
}

function sameKeys(a: PublicIdentity, b: PublicIdentity): boolean {
  return (
    bytesEqual(a.signingPublicKey, b.signingPublicKey) &&
    bytesEqual(a.encryptionPublicKey, b.encryptionPublicKey)
  );
}
