//! The demo catalog: real-looking products in several categories, with starting stock. Catalog
//! and inventory seed from this one list (ids are UUIDv5 of the slug, so both agree without
//! talking to each other) when `STOREFRONT_SEED_DEMO=true`.

use uuid::Uuid;

use crate::ids::ProductId;

pub struct DemoProduct {
    pub slug: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub category: &'static str,
    /// US cents.
    pub price_cents: i64,
    pub stock: i32,
}

impl DemoProduct {
    /// The product's stable id: UUIDv5 of its slug in the Storefront namespace.
    pub fn id(&self) -> ProductId {
        ProductId(Uuid::new_v5(&NAMESPACE, self.slug.as_bytes()))
    }

    /// Served by the web front from the SVGs shipped in the repository.
    pub fn image_url(&self) -> String {
        format!("/static/img/{}.svg", self.category)
    }
}

const NAMESPACE: Uuid = Uuid::from_u128(0x5f0a_43b1_9c5e_4d3e_8c41_2a7e_6b1d_0c11);

pub const PRODUCTS: &[DemoProduct] = &[
    DemoProduct {
        slug: "aeropress-coffee-maker",
        name: "AeroPress Coffee Maker",
        description: "Brews smooth, grit-free coffee in a minute. Light, unbreakable, perfect for travel.",
        category: "kitchen",
        price_cents: 3495,
        stock: 40,
    },
    DemoProduct {
        slug: "cast-iron-skillet",
        name: r#"Cast Iron Skillet 10""#,
        description: r#"Pre-seasoned, oven safe to 260°C; sears, bakes and lasts for generations."#,
        category: "kitchen",
        price_cents: 2999,
        stock: 25,
    },
    DemoProduct {
        slug: "chef-knife",
        name: r#"Chef's Knife 8""#,
        description: r#"High-carbon stainless blade with a full tang and a balanced walnut handle."#,
        category: "kitchen",
        price_cents: 8900,
        stock: 15,
    },
    DemoProduct {
        slug: "pour-over-kettle",
        name: "Gooseneck Pour-Over Kettle",
        description: "0.9 L stainless kettle with a precise spout for pour-over brewing.",
        category: "kitchen",
        price_cents: 4200,
        stock: 20,
    },
    DemoProduct {
        slug: "bamboo-cutting-board",
        name: "Bamboo Cutting Board",
        description: "Large, knife-friendly board with a juice groove. Easy to clean.",
        category: "kitchen",
        price_cents: 2450,
        stock: 60,
    },
    DemoProduct {
        slug: "rust-programming",
        name: "The Rust Programming Language",
        description: "The official guide to Rust, covering ownership, traits, async and more.",
        category: "books",
        price_cents: 3999,
        stock: 30,
    },
    DemoProduct {
        slug: "designing-data-intensive",
        name: "Designing Data-Intensive Applications",
        description: "Reliable, scalable and maintainable systems, explained from first principles.",
        category: "books",
        price_cents: 4599,
        stock: 25,
    },
    DemoProduct {
        slug: "site-reliability",
        name: "Site Reliability Engineering",
        description: "How large services are run in production: SLOs, toil, incidents and on-call.",
        category: "books",
        price_cents: 3499,
        stock: 20,
    },
    DemoProduct {
        slug: "kubernetes-up-running",
        name: "Kubernetes: Up and Running",
        description: "Dive into the future of infrastructure with a practical tour of Kubernetes.",
        category: "books",
        price_cents: 4499,
        stock: 18,
    },
    DemoProduct {
        slug: "pragmatic-programmer",
        name: "The Pragmatic Programmer",
        description: "Timeless advice on the craft of software, from journeyman to master.",
        category: "books",
        price_cents: 3799,
        stock: 35,
    },
    DemoProduct {
        slug: "trail-backpack",
        name: "Trail Backpack 28L",
        description: "Weather-resistant daypack with a hip belt, hydration sleeve and rain cover.",
        category: "outdoor",
        price_cents: 11900,
        stock: 12,
    },
    DemoProduct {
        slug: "insulated-bottle",
        name: "Insulated Bottle 750 ml",
        description: "Keeps drinks cold 24 hours or hot 12. Leak-proof lid, no metallic taste.",
        category: "outdoor",
        price_cents: 2995,
        stock: 80,
    },
    DemoProduct {
        slug: "camp-lantern",
        name: "Rechargeable Camp Lantern",
        description: "400 lumens, three colour temperatures, charges your phone in a pinch.",
        category: "outdoor",
        price_cents: 3900,
        stock: 30,
    },
    DemoProduct {
        slug: "hammock",
        name: "Ultralight Hammock",
        description: "Parachute nylon hammock with tree straps; packs to the size of a grapefruit.",
        category: "outdoor",
        price_cents: 5400,
        stock: 15,
    },
    DemoProduct {
        slug: "trekking-poles",
        name: "Carbon Trekking Poles",
        description: "Pair of collapsible carbon poles with cork grips, 240 g each.",
        category: "outdoor",
        price_cents: 8999,
        stock: 10,
    },
    DemoProduct {
        slug: "wireless-earbuds",
        name: "Wireless Earbuds",
        description: "Active noise cancelling, 8 h battery, wireless charging case.",
        category: "electronics",
        price_cents: 12900,
        stock: 25,
    },
    DemoProduct {
        slug: "mechanical-keyboard",
        name: "Mechanical Keyboard",
        description: "Tenkeyless, hot-swappable switches, PBT keycaps and USB-C.",
        category: "electronics",
        price_cents: 9900,
        stock: 20,
    },
    DemoProduct {
        slug: "usb-c-hub",
        name: "USB-C Hub 7-in-1",
        description: "HDMI 4K60, two USB-A, SD and microSD, 100 W pass-through charging.",
        category: "electronics",
        price_cents: 4599,
        stock: 50,
    },
    DemoProduct {
        slug: "e-reader",
        name: r#"E-Reader 6""#,
        description: r#"Glare-free display, warm light, weeks of battery, waterproof."#,
        category: "electronics",
        price_cents: 13999,
        stock: 10,
    },
    DemoProduct {
        slug: "smart-plug",
        name: "Smart Plug (2-pack)",
        description: "Schedule lamps and appliances; works offline with local control.",
        category: "electronics",
        price_cents: 2499,
        stock: 70,
    },
    DemoProduct {
        slug: "linen-throw",
        name: "Linen Throw Blanket",
        description: "Stonewashed European linen, soft from day one, 130 × 170 cm.",
        category: "home",
        price_cents: 7900,
        stock: 20,
    },
    DemoProduct {
        slug: "ceramic-planter",
        name: "Ceramic Planter Set",
        description: "Three matte planters with drainage holes and bamboo saucers.",
        category: "home",
        price_cents: 3600,
        stock: 30,
    },
    DemoProduct {
        slug: "scented-candle",
        name: "Cedar & Sage Candle",
        description: "Soy wax, cotton wick, about 50 hours of burn time.",
        category: "home",
        price_cents: 2200,
        stock: 45,
    },
    DemoProduct {
        slug: "desk-lamp",
        name: "Adjustable Desk Lamp",
        description: "Dimmable LED with a weighted base and a memory for your last setting.",
        category: "home",
        price_cents: 5900,
        stock: 25,
    },
    DemoProduct {
        slug: "wool-rug",
        name: "Hand-Woven Wool Rug",
        description: "Flat-weave 120 × 180 cm rug in natural undyed wool.",
        category: "home",
        price_cents: 18900,
        stock: 6,
    },
    DemoProduct {
        slug: "merino-tee",
        name: "Merino Wool T-Shirt",
        description: "Breathable, odour-resistant, soft enough to wear every day.",
        category: "apparel",
        price_cents: 6500,
        stock: 40,
    },
    DemoProduct {
        slug: "rain-jacket",
        name: "Packable Rain Jacket",
        description: "Waterproof, breathable three-layer shell that packs into its pocket.",
        category: "apparel",
        price_cents: 14900,
        stock: 15,
    },
    DemoProduct {
        slug: "canvas-sneakers",
        name: "Canvas Sneakers",
        description: "Organic cotton uppers and natural rubber soles.",
        category: "apparel",
        price_cents: 7400,
        stock: 30,
    },
    DemoProduct {
        slug: "beanie",
        name: "Ribbed Beanie",
        description: "Recycled wool blend, one size, in forest green.",
        category: "apparel",
        price_cents: 2800,
        stock: 60,
    },
    DemoProduct {
        slug: "hiking-socks",
        name: "Hiking Socks (3-pack)",
        description: "Cushioned merino socks with reinforced heels and toes.",
        category: "apparel",
        price_cents: 2700,
        stock: 90,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_ids_are_unique_and_stable() {
        let ids: std::collections::HashSet<_> = PRODUCTS.iter().map(DemoProduct::id).collect();
        assert_eq!(ids.len(), PRODUCTS.len());
        assert_eq!(PRODUCTS[0].id(), PRODUCTS[0].id());
        assert!(PRODUCTS.len() >= 24);
    }
}
