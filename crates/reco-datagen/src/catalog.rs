//! The fixed vocabulary of the synthetic shop: types, brands, materials, colours, texts.
//! Every probability used by the generator lives here so data/README.md can quote it.

/// Shoe types == user primary_usage values.
pub const TYPES: [&str; 5] = ["running", "hiking", "casual", "formal", "basketball"];
pub const HIKING: usize = 1;
pub const FORMAL: usize = 3;

/// Share of each type in the catalogue.
pub const TYPE_MIX: [f64; 5] = [0.28, 0.17, 0.27, 0.13, 0.15];

/// Age bands. Index 5 = unknown age (NULL).
pub const AGE_BANDS: [(u8, u8); 5] = [(16, 24), (25, 34), (35, 49), (50, 64), (65, 75)];
pub const UNKNOWN_BAND: usize = 5;
pub const AGE_BAND_MIX: [f64; 5] = [0.18, 0.26, 0.30, 0.18, 0.08];

/// primary_usage distribution per age band (running, hiking, casual, formal, basketball).
pub const USAGE_BY_BAND: [[f64; 5]; 6] = [
    [0.28, 0.10, 0.30, 0.04, 0.28], // 16-24
    [0.34, 0.15, 0.28, 0.10, 0.13], // 25-34
    [0.32, 0.18, 0.28, 0.15, 0.07], // 35-49
    [0.25, 0.22, 0.33, 0.17, 0.03], // 50-64
    [0.18, 0.20, 0.42, 0.18, 0.02], // 65-75
    [0.30, 0.16, 0.31, 0.12, 0.11], // unknown age
];

/// Price tilt per age band: a shoe's weight in the popularity pool is multiplied by
/// (price / type base price) ^ gamma. Negative = prefers cheaper.
pub const PRICE_GAMMA: [f64; 6] = [-1.0, -0.3, 0.3, 0.5, 0.0, 0.0];

/// Base price per type (mid-tier brand), in currency units.
pub const TYPE_BASE_PRICE: [f64; 5] = [120.0, 150.0, 75.0, 160.0, 130.0];
/// Lifespan range per type, days, inclusive.
pub const LIFESPAN: [(u32, u32); 5] = [(300, 500), (600, 900), (365, 700), (700, 1000), (180, 400)];

pub struct Brand {
    pub name: &'static str,
    /// 0 budget, 1 mid, 2 premium.
    pub tier: u8,
    /// Relative weight of the brand among shoes of each type (0 = brand makes none).
    pub lean: [f64; 5],
    /// Appeal per age band (multiplies the brand's weight for users of that band).
    pub age: [f64; 5],
}

pub const TIER_PRICE: [f64; 3] = [0.70, 1.00, 1.35];

pub const BRANDS: [Brand; 12] = [
    Brand {
        name: "Stridewell",
        tier: 1,
        lean: [6.0, 0.0, 1.0, 0.0, 0.0],
        age: [0.8, 1.2, 1.3, 1.0, 0.7],
    },
    Brand {
        name: "Velocita",
        tier: 2,
        lean: [6.0, 0.0, 1.0, 0.0, 1.0],
        age: [0.9, 1.3, 1.3, 0.9, 0.6],
    },
    Brand {
        name: "Pacer Lane",
        tier: 0,
        lean: [4.0, 0.0, 3.0, 0.0, 0.0],
        age: [1.4, 0.9, 0.8, 1.1, 1.6],
    },
    Brand {
        name: "TrailForge",
        tier: 2,
        lean: [1.0, 6.0, 0.0, 0.0, 0.0],
        age: [0.7, 1.1, 1.3, 1.1, 0.8],
    },
    Brand {
        name: "Summit & Sole",
        tier: 1,
        lean: [0.0, 6.0, 1.0, 0.0, 0.0],
        age: [0.5, 0.8, 1.1, 1.4, 1.5],
    },
    Brand {
        name: "Northway",
        tier: 1,
        lean: [0.0, 3.0, 4.0, 0.0, 0.0],
        age: [1.0, 1.1, 1.0, 1.0, 1.0],
    },
    Brand {
        name: "Urbanstep",
        tier: 0,
        lean: [0.0, 0.0, 6.0, 0.0, 1.0],
        age: [1.8, 1.2, 0.8, 0.7, 0.6],
    },
    Brand {
        name: "Canvas & Co",
        tier: 0,
        lean: [0.0, 0.0, 6.0, 0.0, 0.0],
        age: [1.3, 1.1, 1.0, 0.9, 0.8],
    },
    Brand {
        name: "Oxbridge & Finch",
        tier: 2,
        lean: [0.0, 0.0, 1.0, 6.0, 0.0],
        age: [0.3, 0.8, 1.3, 1.5, 1.4],
    },
    Brand {
        name: "Marlow Atelier",
        tier: 1,
        lean: [0.0, 0.0, 2.0, 6.0, 0.0],
        age: [0.6, 1.1, 1.1, 1.1, 1.0],
    },
    Brand {
        name: "Courtline",
        tier: 2,
        lean: [0.0, 0.0, 1.0, 0.0, 6.0],
        age: [1.2, 1.4, 1.0, 0.6, 0.4],
    },
    Brand {
        name: "Hoopwright",
        tier: 1,
        lean: [1.0, 0.0, 0.0, 0.0, 6.0],
        age: [1.5, 1.2, 0.9, 0.6, 0.4],
    },
];

pub const MATERIALS: [&str; 9] = [
    "mesh",
    "knit",
    "synthetic",
    "gore-tex",
    "leather",
    "suede",
    "canvas",
    "rubber",
    "patent leather",
];
pub const GORETEX: usize = 3;

/// Material distribution per type (indexes into MATERIALS).
pub const MATERIAL_BY_TYPE: [[f64; 9]; 5] = [
    //mesh knit synth gtx  leath suede canv rubb patent
    [0.45, 0.30, 0.20, 0.05, 0.00, 0.00, 0.00, 0.00, 0.00], // running
    [0.05, 0.00, 0.15, 0.35, 0.25, 0.20, 0.00, 0.00, 0.00], // hiking
    [0.05, 0.14, 0.10, 0.00, 0.20, 0.18, 0.28, 0.05, 0.00], // casual
    [0.00, 0.00, 0.00, 0.00, 0.75, 0.17, 0.00, 0.00, 0.08], // formal
    [0.25, 0.15, 0.40, 0.00, 0.20, 0.00, 0.00, 0.00, 0.00], // basketball
];

/// Colour palette per type; latent taste cluster c of a type "owns" colour PALETTE[type][c].
pub const CLUSTERS: usize = 6;
pub const PALETTE: [[&str; CLUSTERS]; 5] = [
    ["black", "white", "blue", "neon yellow", "grey", "red"],
    ["brown", "olive", "grey", "black", "tan", "orange"],
    ["white", "navy", "black", "beige", "grey", "green"],
    ["black", "brown", "burgundy", "tan", "cognac", "navy"],
    ["white", "black", "red", "royal blue", "gold", "purple"],
];
/// Probability that a shoe's colour is its cluster's colour (else uniform over the palette).
pub const CLUSTER_COLOR_P: f64 = 0.5;

pub const MODELS: [[&str; 8]; 5] = [
    [
        "Tempo", "Glide", "Pulse", "Aero", "Swift", "Cadence", "Vector", "Stride",
    ],
    [
        "Ridge", "Summit", "Crag", "Traverse", "Alpine", "Cairn", "Scree", "Basin",
    ],
    [
        "Harbor", "Weekend", "Loft", "Drift", "Metro", "Plaza", "Canal", "Nomad",
    ],
    [
        "Oxford", "Derby", "Brogue", "Monk", "Loafer", "Chelsea", "Regent", "Windsor",
    ],
    [
        "Dunk",
        "Crossover",
        "Rebound",
        "Baseline",
        "Fastbreak",
        "Post",
        "Alley",
        "Hangtime",
    ],
];
pub const SUFFIXES: [[&str; 5]; 5] = [
    ["", "Pro", "Lite", "Max", "Elite"],
    ["", "Mid", "Low", "Trek", "XT"],
    ["", "", "Classic", "Lite", "Slip-On"],
    ["", "", "Cap-Toe", "Plain-Toe", "Wingtip"],
    ["", "Mid", "Low", "Pro", "Elite"],
];

/// First sentence of the description: {A} (article), {adj}, {mat}, {cushion} are substituted.
pub const DESC_FIRST: [&str; 5] = [
    "{A} {adj} running shoe with {cushion} cushioning and a {mat} upper.",
    "{A} {adj} hiking boot with a {mat} upper and a grippy lugged outsole.",
    "{A} {adj} casual sneaker in {mat} for everyday wear.",
    "{A} {adj} formal shoe in {mat}, made for the office and evenings out.",
    "{A} {adj} basketball shoe with a {mat} upper and court-ready cushioning.",
];
pub const DESC_ADJ: [[&str; 4]; 5] = [
    ["lightweight", "responsive", "versatile", "fast"],
    ["rugged", "sturdy", "supportive", "trail-ready"],
    ["relaxed", "clean-looking", "comfortable", "easygoing"],
    ["elegant", "classic", "refined", "sharp"],
    ["explosive", "stable", "lightweight", "high-performance"],
];
pub const CUSHION: [&str; 4] = ["plush", "springy", "balanced", "responsive foam"];
pub const DESC_MORE: [[&str; 4]; 5] = [
    [
        "The breathable upper keeps feet cool on long runs, while the rubber outsole adds grip on wet roads.",
        "Built for daily training and tempo runs, with a smooth heel-to-toe transition.",
        "A supportive midsole and extra cushioning make it a dependable marathon trainer.",
        "Reflective details keep you visible on early-morning and evening runs.",
    ],
    [
        "Aggressive lugs give reliable grip on rocky trails and loose gravel.",
        "A padded collar and high cut provide ankle support on uneven terrain.",
        "A stiff shank and protective toe cap handle long days with a heavy pack.",
        "Durable, weather-ready construction for multi-day treks and mountain walks.",
    ],
    [
        "A cushioned footbed keeps it comfortable all day.",
        "Pairs easily with jeans or chinos for weekends in the city.",
        "A vulcanised rubber sole and clean lines give it a timeless look.",
        "Lightweight and flexible, it is easy to slip on for errands.",
    ],
    [
        "Goodyear-welted construction and a leather sole make it easy to resole.",
        "A sleek silhouette that pairs with suits and business attire.",
        "Hand-finished with a polished toe; a leather lining keeps feet comfortable all day.",
        "A cushioned insole softens long days at weddings, meetings and dinners.",
    ],
    [
        "High-rebound cushioning absorbs hard landings on the court.",
        "A herringbone outsole delivers sharp grip for quick cuts and crossovers.",
        "A supportive collar adds ankle support and lockdown.",
        "Lightweight and responsive, built for guards who play fast.",
    ],
];

/// Material phrase used in descriptions.
pub const MAT_DESC: [&str; 9] = [
    "breathable engineered mesh",
    "sock-like knit",
    "durable synthetic",
    "waterproof Gore-Tex",
    "full-grain leather",
    "soft suede",
    "cotton canvas",
    "moulded rubber",
    "glossy patent leather",
];

/// Care instructions: material sentence + type sentence.
pub const CARE_MATERIAL: [&str; 9] = [
    "Remove the insoles, hand-wash the mesh upper with mild soap and a soft brush, then air-dry away from direct heat; never put them in the dryer.",
    "Hand-wash the knit upper in cool water with a mild detergent, press out excess water with a towel and air-dry stuffed with paper to keep the shape.",
    "Wipe the synthetic upper with a damp cloth and mild soap, scrub the outsole grooves with a soft brush and air-dry at room temperature.",
    "Brush off dried mud, rinse the outsole, stuff with newspaper and air-dry away from heat; re-proof the Gore-Tex upper every few months.",
    "Wipe off dirt with a damp cloth, let dry naturally, then condition and polish the leather regularly; keep cedar shoe trees inside between wears.",
    "Brush with a suede brush once dry, lift marks with a suede eraser and treat with a protective spray; never soak suede in water.",
    "Spot-clean with mild soap and a soft brush, or machine-wash cold inside a pillowcase with laces and insoles removed; air-dry, never tumble-dry.",
    "Rinse with water, scrub with mild soap and dry in the shade; keep out of direct sun so the rubber does not crack.",
    "Wipe with a soft damp cloth and buff with a patent leather cleaner; store in a dust bag so the glossy finish does not scuff.",
];
pub const CARE_TYPE: [&str; 5] = [
    "Rotate two pairs if you run daily and retire them after roughly 500-800 km, when the cushioning feels flat.",
    "Check laces, hooks and sole bonding before each trip, and let them dry fully before storing.",
    "Use a shoe horn to protect the heel counter and replace the laces when they fray.",
    "Let them rest a day between wears and have a cobbler replace heels and soles when worn.",
    "Keep them for indoor courts only and wipe the outsole before play to restore grip.",
];

// ---------------------------------------------------------------------------------------------
// Behaviour parameters (documented in data/README.md).

/// Probability that an engagement is with the user's own (hidden) primary type.
pub const P_PRIMARY_TYPE: f64 = 0.70;
/// Probability that it is with the user's secondary type (else: catalogue type mix minus primary).
pub const P_SECONDARY_TYPE: f64 = 0.18;
/// Within the chosen type, the source of the shoe (cumulative thresholds):
/// latent taste cluster / favourite brand / favourite material / popularity (age-band tilted).
pub const P_SRC_CLUSTER: f64 = 0.35;
pub const P_SRC_BRAND: f64 = 0.20;
pub const P_SRC_MATERIAL: f64 = 0.10;
/// Probability the favourite-brand source uses brand #1 (else brand #2).
pub const P_FAV_BRAND1: f64 = 0.70;
/// Funnel, per engagement (a first view always happens).
pub const P_REVIEW: f64 = 0.25;
pub const P_WISHLIST: f64 = 0.18;
pub const P_PURCHASE_AFTER_WISH: f64 = 0.30;
pub const P_PURCHASE_NO_WISH: f64 = 0.057;
/// Zipf exponent and offset of item popularity within a type: w = (rank + 3)^-ZIPF_S.
pub const ZIPF_S: f64 = 0.95;
pub const ZIPF_OFFSET: f64 = 3.0;

/// Users.
pub const P_NEW_USER: f64 = 0.05;
pub const P_NULL_AGE: f64 = 0.03;
pub const P_NULL_GENDER: f64 = 0.04;
pub const P_NULL_USAGE: f64 = 0.03;
pub const GENDER_MIX: [f64; 3] = [0.48, 0.48, 0.04];
pub const GENDERS: [&str; 3] = ["female", "male", "other"];
/// Activity: lognormal sigma, and cap on interactions per user.
pub const ACTIVITY_SIGMA: f64 = 1.1;
pub const ACTIVITY_CAP: u32 = 500;

/// Shoes.
pub const P_INACTIVE_OLD: f64 = 0.06;
