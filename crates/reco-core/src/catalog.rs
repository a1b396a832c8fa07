//! The catalogue as the algorithms see it: one [`Shoe`] per row of `reco.shoes`, in `shoe_id`
//! order (a shoe's index in that order is its *position* everywhere: matrix column, factor row,
//! TF-IDF row).

use crate::tfidf::ShoeText;

/// One catalogue row, as much of it as the model, recommendations and reasons need.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Shoe {
    pub shoe_id: i64,
    pub name: String,
    pub brand: String,
    pub shoe_type: String,
    /// Empty when unknown (NULL in the table).
    pub material: String,
    pub color: String,
    pub description: String,
    pub price: Option<f64>,
    pub active: bool,
}

impl Shoe {
    /// The fields TF-IDF reads.
    pub fn text(&self) -> ShoeText<'_> {
        ShoeText {
            name: &self.name,
            brand: &self.brand,
            shoe_type: &self.shoe_type,
            material: &self.material,
            color: &self.color,
            description: &self.description,
        }
    }
}
