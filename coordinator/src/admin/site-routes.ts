import {
  keyFingerprint,
  type PublicIdentity,
  publicIdentityFromJson,
} from "../../../shared/src/crypto/index.js";
import type { Coordinator } from "../federation/coordinator.js";
import type { SiteRoutes } from "./server.js";

/** What `fl sites list` shows of an enrolled site: its id and the fingerprints to compare. */
export function siteFingerprints(site: PublicIdentity): { id: string; signing: string; encryption: string } {
  return {
    id: site.id,
    signing: keyFingerprint(site.signingPublicKey),
    encryption: keyFingerprint(site.encryptionPublicKey),
  };
}

/** The operator's enrolment routes over a running coordinator: changes take effect at once. */
export function siteRoutes(coordinator: Pick<Coordinator, "enrolledSites" | "enrol" | "revoke">): SiteRoutes {
  return {
    list: () => ({ sites: coordinator.enrolledSites().map(siteFingerprints) }),
    enrol: (json) => {
      const site = publicIdentityFromJson(json, "the enrolled public identity");
      return { enrolled: coordinator.enrol(site), site: siteFingerprints(site) };
    },
    revoke: (siteId, reason) => coordinator.revoke(siteId, reason),
  };
}
