import { ConvoticModule } from "@convotic/block-sdk";
const module: ConvoticModule = {
name: "erp-webhook",
version: "1.0.0",
register(sdk) {
sdk.registerRoute({
method: "POST",
path: "/webhook/erp",
handler: async (req, ctx) => {
const payload = req.body;
// Look up the contact by external ID
const contact = await ctx.contacts.findByExternalId(
payload.customer_id
);
if (contact) {
// Update the contact with order data from the ERP
await ctx.contacts.update(contact.id, {
attributes: {
last_erp_order_id: payload.order_id,
last_erp_order_status: payload.status,
},
});
}
return { status: 200, body: { ok: true } };
},
});
},
};
export default module;
